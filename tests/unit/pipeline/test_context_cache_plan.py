"""Whether a run caches its shared instruction, and what the workers get:
decided from the options, the catalog and the prices, before any call."""
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import context_cache
from pipeline.options import job_config
from vertex.context_cache import JobCache, cache_gone, display_name, output_tag
from vertex.errors import VertexApiError

LONG = " ".join(["guideline"] * 40_000)  # about 90,000 tokens at 4 characters a token


def config(*flags, project=True):
    argv = ["--input", "in.jsonl", "--output", "/tmp/out-cc", "--endpoint", "http://127.0.0.1:9",
            *(("--project", "p", "--vertex_location", "global") if project else ()), *flags]
    return job_config(PipelineOptions(argv))


def test_a_long_shared_instruction_over_many_records_is_cached():
    plan = context_cache.plan(config("--system_instruction", LONG), records=1000)
    assert plan.use and plan.model == "gemini-3.5-flash"
    assert plan.with_cache_usd < plan.without_cache_usd / 5
    assert "1000 record(s)" in plan.why


@pytest.mark.parametrize("flags, records, project, why", [
    (("--context_cache", "off", "--system_instruction", LONG), 1000, True, "--context_cache off"),
    ((), 1000, True, "no --system_instruction"),
    (("--system_instruction", "Label it."), 1000, True, "under gemini-3.5-flash's caching minimum"),
    (("--system_instruction", LONG, "--model", "gemini-4-argon"), 1000, True,
     "takes no explicit context cache"),
    (("--system_instruction", LONG), 1000, False, "belongs to a project"),
    (("--system_instruction", LONG), 1, True, "would not pay"),
])
def test_where_the_run_goes_without(flags, records, project, why):
    plan = context_cache.plan(config(*flags, project=project), records)
    assert not plan.use and why in plan.why


def test_an_uncountable_input_is_assumed_large():
    assert context_cache.plan(config("--system_instruction", LONG), records=None).use


def test_the_workers_budget_leaves_room_for_the_cache():
    job = config("--system_instruction", LONG, "--max_cost_usd", "1")
    cache = JobCache("projects/p/locations/global/cachedContents/1", "gemini-3.5-flash",
                     {"parts": [{"text": LONG}]}, 90_000, "tag", 1200)
    workers = context_cache.for_workers(job, cache, records=1000)
    assert workers.job_cache is cache
    making = 90_000 * 1.5e-6
    storage = 90_000 * 1.0e-6 * context_cache.expected_hours(job, 1000)
    assert workers.connection.settings.max_cost_usd == pytest.approx(1 - making - storage)
    assert context_cache.for_workers(job, None, 1000) is job


def test_a_record_reads_the_cache_only_with_the_jobs_instruction_and_model():
    instruction = {"parts": [{"text": "x"}]}
    cache = JobCache("projects/p/locations/global/cachedContents/1", "gemini-3.5-flash",
                     instruction, 5000, "tag", 600)
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": instruction, "generationConfig": {"temperature": 0}}
    assert cache.without_reason("publishers/google/models/gemini-3.5-flash", body) is None
    assert cache.request(body) == {"contents": body["contents"],
                                   "generationConfig": {"temperature": 0},
                                   "cachedContent": cache.name}
    assert cache.without_reason("gemini-3.8-flash", body) == "other_model"
    assert cache.without_reason("gemini-3.5-flash", {**body, "systemInstruction": {
        "parts": [{"text": "mine"}]}}) == "own_system_instruction"
    assert cache.without_reason("gemini-3.5-flash", {**body, "tools": []}) == "own_tools"
    assert cache.without_reason("gemini-3.5-flash", {**body, "cachedContent": "c"}) \
        == "own_cached_content"


def test_a_caches_name_tags_its_output_and_run_and_gone_caches_are_known():
    name = display_name("gs://bucket/labels", "20261207T000000Z-abc123")
    assert name.startswith(output_tag("gs://bucket/labels") + " ")
    assert "bucket" not in name and name.endswith("20261207T000000Z-abc123")
    assert cache_gone(VertexApiError(400, "INVALID_ARGUMENT", "Cache content 123 is expired."))
    assert cache_gone(VertexApiError(404, "NOT_FOUND", "CachedContent not found: x"))
    assert not cache_gone(VertexApiError(400, "INVALID_ARGUMENT", "contents is required"))
    assert not cache_gone(VertexApiError(429, "RESOURCE_EXHAUSTED", "cached content quota"))


def test_a_record_reading_the_cache_is_estimated_at_the_cached_price():
    from transforms.generate_content import GeminiHandler
    from transforms.prompt_records import PromptRecord
    instruction = {"parts": [{"text": "guideline " * 20_000}]}
    cache = JobCache("projects/p/locations/global/cachedContents/1", "gemini-3.5-flash",
                     instruction, 50_000, "tag", 600)
    body = {"contents": [{"role": "user", "parts": [{"text": "Review: fine"}]}],
            "systemInstruction": instruction}
    record = PromptRecord(id="a", task="text", model="gemini-3.5-flash", body=body,
                          metadata=None, source=None, line_number=None)
    with_cache = GeminiHandler(context_cache=cache).estimate(record).input_tokens
    without = GeminiHandler().estimate(record).input_tokens
    # 3.5 Flash's cached input is a tenth of its input price
    assert with_cache == pytest.approx(without * 0.1, rel=0.01)
    own = record._replace(body={**body, "systemInstruction": {"parts": [{"text": "mine"}]}})
    assert GeminiHandler(context_cache=cache).estimate(own).input_tokens \
        == GeminiHandler().estimate(own).input_tokens
