"""Install with `pip install .` (add `[local]` for DuckDB, `[test]` for the
test suite); it installs the `vertex-beam-batch` command. On Dataflow, pass
`--setup_file ./setup.py` so workers install the same packages."""
from setuptools import find_packages, setup

setup(
    name="vertex-beam-batch",
    version="0.2.0",
    description="Apache Beam batch pipeline for Vertex AI Gemini and Imagen, "
                "with a local Vertex AI emulator",
    packages=find_packages(include=["pipeline", "pipeline.*", "transforms", "transforms.*",
                                    "vertex", "vertex.*", "vertex_schema", "vertex_schema.*",
                                    "vertex_catalog", "emulator", "emulator.*"]),
    # the model catalog: what each model is, where it is served, its lifecycle and prices
    package_data={"vertex_catalog": ["models.json"]},
    python_requires=">=3.11",  # asyncio.timeout
    # the command: the job (`run`, the default), `report`, `models`, `emulator`, `--version`
    entry_points={"console_scripts": ["vertex-beam-batch = pipeline.cli:main"]},
    install_requires=[
        "apache-beam[gcp]>=2.60,<3",
        "google-cloud-storage>=2.14",
        "google-auth>=2.20",
        # Secret Manager's own client reads --api_key_secret on each worker
        # (apache-beam[gcp] installs it; this names the direct use).
        "google-cloud-secret-manager>=2.16",
        "httpx>=0.27",
        # The aiohttp transport under httpx: several times the throughput of
        # httpx's own at hundreds of requests in flight (bench/transport.py).
        "httpx-aiohttp>=0.1.8",
        "aiohttp>=3.9",
        "tenacity>=8.3",
        "pyarrow>=14",
        # Google's aiplatform_v1 protos judge every request (vertex_schema/);
        # apache-beam[gcp] installs it already, this names the direct use.
        "google-cloud-aiplatform>=1.60",
        # Reads the size of every image format Imagen returns (PNG, JPEG, WebP,
        # GIF, BMP, TIFF, ICO) for the images table; the emulator draws with it.
        "pillow>=10",
        # report.html's charts, as inline SVG: a well-kept plotting library
        # instead of hand-drawn SVG.
        "matplotlib>=3.9",
    ],
    extras_require={
        # DuckDB lets run_local.sh show the Parquet it wrote.
        "local": ["duckdb>=1.0"],
        # wheel: the installed-package test builds the wheel workers install
        # (setuptools before 70.1 needs it for bdist_wheel).
        "test": ["duckdb>=1.0", "pandas>=2", "pytest>=8", "pytest-timeout>=2",
                 "gcp-storage-emulator>=2024.1", "google-genai>=1.0", "wheel>=0.40"],
    },
)
