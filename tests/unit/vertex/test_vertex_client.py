"""The Vertex client against the emulator over real HTTP."""
import asyncio
import os

import pytest
import tenacity

from transforms.vertex_connection import VertexConnection
from vertex.auth import ApiKeySource
from vertex.call_policy import CallSettings
from vertex.errors import FatalApiError, VertexApiError, error_from_response
from vertex.http import TRANSPORTS, make_http_client
from vertex.request_body import user_content
from vertex.retry import wait_for_server_hint

FAST_RETRIES = dict(initial_backoff_s=0.01, max_backoff_s=0.05)


def call(url, prompt, *, model="gemini-3.5-flash", stream=False, api_key=None, project=None,
         body=None, **settings):
    if api_key:
        os.environ["TEST_VERTEX_API_KEY"] = api_key
    connection = VertexConnection(
        project=project, endpoint_url=url,
        api_key=ApiKeySource(env_var="TEST_VERTEX_API_KEY") if api_key else None,
        settings=CallSettings(**{**FAST_RETRIES, **settings}))

    async def go():
        client = await connection.create_client()
        try:
            return await client.generate_content(
                model, body or {"contents": [user_content(prompt)]}, stream=stream)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_a_plain_call(emulator):
    result = call(emulator.url, "Hello")
    assert result.ok and result.attempts == 1 and result.http_status == 200
    assert result.response["candidates"][0]["content"]["parts"][0]["text"]
    assert emulator.stats()["by_status"] == {"200": 1}


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_success(emulator, code):
    result = call(emulator.url, f"x [[emulator: fail={code}x2]]")
    assert result.ok and result.attempts == 3
    assert result.throttled == (2 if code == 429 else 0)


def test_other_client_errors_are_not_retried(emulator):
    result = call(emulator.url, None, body={"contents": [user_content("x")], "bogus": 1})
    assert not result.ok and result.attempts == 1
    assert isinstance(result.error, VertexApiError) and result.error.code == 400
    assert "Unknown name" in result.error.message


def test_attempts_run_out_into_an_error_result(emulator):
    result = call(emulator.url, "x [[emulator: fail=503]]", max_attempts=3)
    assert not result.ok and result.attempts == 3 and result.error.code == 503
    assert emulator.stats()["by_status"] == {"503": 3}


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_dropped_connections_and_cut_off_bodies_are_retried(emulator, fault):
    result = call(emulator.url, f"x [[emulator: {fault}x1]]")
    assert result.ok and result.attempts == 2


def test_streaming_joins_chunks_into_the_same_answer_and_times_the_first_token(emulator):
    whole = call(emulator.url, "Tell me a story")
    streamed = call(emulator.url, "Tell me a story", stream=True)
    text = lambda r: r.response["candidates"][0]["content"]["parts"][0]["text"]  # noqa: E731
    assert streamed.ok and text(streamed) == text(whole)
    assert streamed.first_token_ms is not None and streamed.first_token_ms >= 0
    assert streamed.response["usageMetadata"] == whole.response["usageMetadata"]
    assert emulator.stats()["by_method"]["streamGenerateContent"] == 1


def test_an_error_in_the_middle_of_a_stream_is_retried(emulator):
    result = call(emulator.url, "x [[emulator: stream_error x1]]", stream=True)
    assert result.ok and result.attempts == 2


def test_a_short_server_hint_is_retried(emulator):
    result = call(emulator.url, "x [[emulator: fail=429x1, retry_after=0.05]]")
    assert result.ok and result.attempts == 2 and result.throttled == 1


def test_a_server_hint_longer_than_the_deadline_ends_the_record(emulator):
    # The backoff alone (10 ms) would retry and succeed; the server's 5 s hint
    # does not fit in the record's 2 s deadline, so no second attempt is made.
    result = call(emulator.url, "x [[emulator: fail=429x1, retry_after=5]]", deadline_s=2)
    assert not result.ok and result.attempts == 1 and result.error.retry_after_s == 5.0


def test_retry_hints_are_read_from_retry_info_and_the_retry_after_header():
    body = (b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "m", '
            b'"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", '
            b'"retryDelay": "50s"}]}}')
    assert error_from_response(429, body).retry_after_s == 50.0
    assert error_from_response(503, b"oops", {"retry-after": "7"}).retry_after_s == 7.0
    wait = wait_for_server_hint(tenacity.wait_fixed(1))
    state = tenacity.RetryCallState(None, None, (), {})
    state.set_exception((VertexApiError, VertexApiError(429, "R", "m", 50.0), None))
    assert wait(state) == 50.0  # the server asked for 50 s: not cut to a client maximum
    state.set_exception((VertexApiError, VertexApiError(429, "R", "m", 0.1), None))
    assert wait(state) == 1.0   # a hint shorter than the backoff does not shorten it
    state.set_exception((VertexApiError, VertexApiError(503, "U", "m"), None))
    assert wait(state) == 1.0


def test_the_per_record_deadline_stops_retries(emulator):
    result = call(emulator.url, "x [[emulator: fail=503]]", max_attempts=100,
                  initial_backoff_s=0.2, max_backoff_s=0.2, deadline_s=0.5)
    assert not result.ok and 2 <= result.attempts <= 3


def test_unknown_model_stops_the_job(emulator):
    with pytest.raises(FatalApiError, match="404 NOT_FOUND for model 'gemini-0-nonexistent'"):
        call(emulator.url, "x", model="gemini-0-nonexistent")


def test_express_mode_sends_the_key_in_a_header_and_wrong_keys_stop_the_job(start_emulator):
    emulator = start_emulator("--require_api_key", "key-123-secret")
    assert call(emulator.url, "x", api_key="key-123-secret").ok
    with pytest.raises(FatalApiError) as missing:
        call(emulator.url, "x")
    assert "401 UNAUTHENTICATED" in str(missing.value)
    with pytest.raises(FatalApiError) as wrong:
        call(emulator.url, "x", api_key="wrong-key-456")
    assert "403 PERMISSION_DENIED" in str(wrong.value)
    assert "wrong-key-456" not in str(wrong.value)


def test_regional_project_paths_reach_the_emulator(emulator):
    assert call(emulator.url, "x", project="my-project").ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_json_posts_read_each_answer_and_give_its_connection_back(emulator, transport):
    """post_json hands the request to the transport (aiohttp) or to httpx's
    client (its own transport): either way each answer, a refusal too, is
    read whole, and two connections serve 60 requests, 20 of them at once."""
    url = emulator.url + "/v1/publishers/google/models/gemini-3.5-flash:generateContent"
    good = {"contents": [user_content("Hello")]}

    async def go():
        http = make_http_client(2, 10.0, transport)
        try:
            answers = [await http.post_json(url, good, {}) for _ in range(40)]
            answers += await asyncio.gather(*(http.post_json(url, good, {}) for _ in range(20)))
            refused = await http.post_json(url, {"contents": [], "bogus": 1}, {})
        finally:
            await http.aclose()
        return answers, refused
    answers, refused = asyncio.run(go())
    assert [a.status_code for a in answers] == [200] * 60
    assert all(a.json()["candidates"][0]["content"]["parts"][0]["text"] for a in answers)
    assert refused.status_code == 400 and b"bogus" in refused.content
