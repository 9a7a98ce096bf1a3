"""python -m emulator --port PORT [--rpm N] [--tpm N] [--latency_ms N] ..."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

from emulator.app import Emulator
from emulator.config import EmulatorConfig


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="A local Vertex AI (Gemini generateContent, streamGenerateContent, "
                    "countTokens; Imagen predict) with quotas, latency and faults.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on; 0 picks a free one")
    parser.add_argument("--port_file", help="write the port chosen to this file once listening")
    parser.add_argument("--rpm", type=float, help="per-model requests-per-minute quota (429 beyond)")
    parser.add_argument("--tpm", type=float, help="per-model tokens-per-minute quota, prompt and output")
    parser.add_argument("--image_rpm", type=float, help="requests-per-minute quota of Imagen models "
                                                        "(default: --rpm)")
    parser.add_argument("--latency_ms", type=float, default=0.0, help="added to every answer")
    parser.add_argument("--jitter_ms", type=float, default=0.0,
                        help="mean of an extra exponentially distributed (long-tailed) delay")
    parser.add_argument("--token_latency_ms", type=float, default=0.0,
                        help="extra delay per output token; streaming spreads it across chunks")
    parser.add_argument("--error_rate", type=float, default=0.0,
                        help="share of requests answered 500 or 503 at random")
    parser.add_argument("--throttle_rate", type=float, default=0.0,
                        help="share of requests answered 429 at random, as in a burst on "
                        "a shared quota")
    parser.add_argument("--no_retry_info", action="store_true",
                        help="429 answers carry no google.rpc.RetryInfo or Retry-After")
    parser.add_argument("--require_api_key", help="requests must carry this key "
                        "(x-goog-api-key header or ?key=); 401 if missing, 403 if wrong")
    parser.add_argument("--extra_models", default="", help="comma-separated model ids to serve "
                        "as text models besides the catalog's (vertex_catalog/models.json)")
    parser.add_argument("--serve_discontinued", action="store_true",
                        help="serve models past their discontinuation date (Vertex AI answers "
                        "404 for them), for old files and tests")
    parser.add_argument("--image_scale", type=float, default=0.25,
                        help="Imagen output sizes times this (1.0 = real sizes)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random faults and jitter")
    parser.add_argument("--provisioned_rpm", type=float, help="the project has Provisioned "
                        "Throughput for this many requests per minute per model: requests use "
                        "it first (trafficType PROVISIONED_THROUGHPUT); beyond it, `dedicated` "
                        "requests get 429 and the others spill over to PayGo")
    parser.add_argument("--live_sessions", type=int, help="Live API sessions open at once; "
                        "beyond, a session is closed with 1011 RESOURCE_EXHAUSTED")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS and WSS (the SDK's Live "
                        "client dials wss:// only) with a self-signed certificate for 127.0.0.1 "
                        "and localhost")
    parser.add_argument("--cert_file", help="with --tls: where to write the certificate, for "
                        "clients to trust (e.g. SSL_CERT_FILE)")
    parser.add_argument("--flex_latency_ms", type=float, default=0.0,
                        help="extra latency of Flex PayGo answers (slow by design)")
    parser.add_argument("--flex_rpm", type=float, help="Flex PayGo's capacity shared by the "
                        "project, requests a minute per model: past it Flex answers 429 "
                        "RESOURCE_EXHAUSTED (default: no limit)")
    parser.add_argument("--flex_as_standard", type=float, default=0.0, help="the share of Flex "
                        "requests served as Standard (trafficType ON_DEMAND, billed at Standard), "
                        "as Vertex AI may do silently")
    parser.add_argument("--implicit_cache_hit_rate", type=float, default=0.5, help="how often "
                        "a request whose prefix (system instruction, tools, earlier turns) "
                        "reaches the model's caching minimum and was sent before comes back "
                        "with it cached implicitly, as Vertex AI's best-effort cache may "
                        "(default: %(default)s; 0: never)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        rpm=args.rpm, tpm=args.tpm, image_rpm=args.image_rpm, latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms, token_latency_ms=args.token_latency_ms,
        error_rate=args.error_rate, throttle_rate=args.throttle_rate,
        retry_info=not args.no_retry_info,
        require_api_key=args.require_api_key,
        extra_models=tuple(m.strip() for m in args.extra_models.split(",") if m.strip()),
        serve_discontinued=args.serve_discontinued,
        image_scale=args.image_scale, seed=args.seed, provisioned_rpm=args.provisioned_rpm,
        flex_latency_ms=args.flex_latency_ms, flex_rpm=args.flex_rpm,
        flex_as_standard=args.flex_as_standard, live_sessions=args.live_sessions,
        implicit_cache_hit_rate=args.implicit_cache_hit_rate)


async def serve(config: EmulatorConfig, host: str, port: int, port_file: str | None,
                ssl_context=None) -> None:
    runner = web.AppRunner(Emulator(config).app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    if port_file:
        with open(port_file, "w") as f:
            f.write(str(port))
    print(f"emulator listening on {'https' if ssl_context else 'http'}://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def self_signed_context(cert_file: str):
    """A TLS context with a fresh self-signed certificate for 127.0.0.1 and
    localhost; the certificate is written to cert_file for clients to trust
    (the key stays in this process but for a file only it can read)."""
    import datetime
    import ipaddress
    import os
    import ssl
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vertex emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd, key_file = tempfile.mkstemp(prefix="emulator-key-")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
    finally:
        os.remove(key_file)
    return context


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.tls != bool(args.cert_file):
        print("error: --tls and --cert_file go together", file=sys.stderr)
        return 2
    ssl_context = self_signed_context(args.cert_file) if args.tls else None
    try:
        import uvloop  # optional: faster when installed
        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(config, args.host, args.port, args.port_file, ssl_context))
    except OSError as error:  # e.g. the port is in use
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
