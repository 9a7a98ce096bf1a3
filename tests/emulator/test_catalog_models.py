"""Every model of the catalog, called on the emulator as a user would call it
on Vertex AI: served where the catalog says, doing what the catalog says it
does, and answered 404 once discontinued (unless --serve_discontinued)."""
import asyncio
import base64
import io
import json

import aiohttp
import httpx
import pytest
from PIL import Image

import vertex_catalog
from tests.support.servers import EmulatorProcess

MODELS = sorted(vertex_catalog.catalog(), key=lambda model: model.id)
DISCONTINUED = [m for m in MODELS if m.retired_on()]
CURRENT = [m for m in MODELS if not m.retired_on()]
LIVE_ROUTE = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"


@pytest.fixture(scope="module")
def strict_emulator():
    """An emulator that answers discontinued models as Vertex AI does."""
    server = EmulatorProcess(serve_discontinued=False)
    yield server
    server.stop()


def default_location(model):
    return "us-central1" if model.served_at("us-central1") else model.locations[0]


def model_path(model, location=None):
    location = location or default_location(model)
    return f"/v1/projects/p/locations/{location}/publishers/google/models/{model.id}"


def call(emulator, model, location=None, **generation_config):
    """The model's own kind of request: a text, image or speech answer from
    generateContent, images from predict, one Live API turn."""
    if model.api == vertex_catalog.LIVE:
        return asyncio.run(live_turn(emulator, model, location))
    if model.api == vertex_catalog.PREDICT:
        return httpx.post(f"{emulator.url}{model_path(model, location)}:predict", timeout=30,
                          json={"instances": [{"prompt": "a lighthouse"}],
                                "parameters": {"sampleCount": 1}})
    if model.makes_images:
        generation_config.setdefault("responseModalities", ["IMAGE"])
    elif model.speaks:
        generation_config.setdefault("responseModalities", ["AUDIO"])
    return httpx.post(f"{emulator.url}{model_path(model, location)}:generateContent",
                      timeout=30, json={"contents": [{"role": "user", "parts": [
                          {"text": "Say hello"}]}], "generationConfig": generation_config})


async def live_turn(emulator, model, location=None):
    """(close code or None, the messages of one text turn)."""
    location = location or default_location(model)
    setup = {"model": f"projects/p/locations/{location}/publishers/google/models/{model.id}",
             "generationConfig": {"responseModalities": ["TEXT"]}}
    messages = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(emulator.url.replace("http", "ws") + LIVE_ROUTE,
                                      headers={"Authorization": "Bearer test"}) as ws:
            await ws.send_str(json.dumps({"setup": setup}))
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                messages.append(json.loads(message.data))
                if "setupComplete" in messages[-1]:
                    await ws.send_str(json.dumps({"clientContent": {
                        "turns": [{"role": "user", "parts": [{"text": "Hello"}]}],
                        "turnComplete": True}}))
                if (messages[-1].get("serverContent") or {}).get("turnComplete"):
                    await ws.close()
                    return None, messages
            return ws.close_code, messages


def assert_answered_as_the_catalog_says(model, response):
    if model.api == vertex_catalog.LIVE:
        code, messages = response
        assert code is None and messages[0] == {"setupComplete": {}}
        assert messages[-1]["usageMetadata"]["responseTokenCount"] > 0
        return
    assert response.status_code == 200, response.text
    answer = response.json()
    if model.api == vertex_catalog.PREDICT:
        image = base64.b64decode(answer["predictions"][0]["bytesBase64Encoded"])
        assert Image.open(io.BytesIO(image)).size[0] > 0
        return
    parts = answer["candidates"][0]["content"]["parts"]
    if model.makes_images:
        inline = [p["inlineData"] for p in parts if "inlineData" in p]
        assert inline and Image.open(io.BytesIO(base64.b64decode(inline[0]["data"])))
    elif model.speaks:
        assert parts[0]["inlineData"]["mimeType"].startswith("audio/L16")
    else:
        assert parts[0]["text"]
    if model.legacy_spellings:  # the legacy v1 dialect
        assert answer["candidates"][0]["finishReason"] == "FINISH_REASON_STOP"
    else:
        assert answer["modelVersion"] == model.id


@pytest.mark.parametrize("model", CURRENT, ids=lambda model: model.id)
def test_a_current_model_answers_as_the_catalog_says(strict_emulator, model):
    assert_answered_as_the_catalog_says(model, call(strict_emulator, model))


@pytest.mark.parametrize("model", DISCONTINUED, ids=lambda model: model.id)
def test_a_discontinued_model_is_not_found_unless_served_for_old_files(
        strict_emulator, emulator, model):
    refused = call(strict_emulator, model)
    if model.api == vertex_catalog.LIVE:
        assert refused[0] == 1008
    else:
        assert refused.status_code == 404, refused.text
        assert model.id in refused.json()["error"]["message"]
    assert_answered_as_the_catalog_says(model, call(emulator, model))


@pytest.mark.parametrize("model", [m for m in CURRENT if not m.served_at("us-central1")],
                         ids=lambda model: model.id)
def test_a_model_not_served_in_regions_is_not_found_there(strict_emulator, model):
    assert call(strict_emulator, model, location="us-central1").status_code == 404
    for place in model.locations:
        location = "us-central1" if place == "regions" else place
        assert call(strict_emulator, model, location=location).status_code == 200, place


@pytest.mark.parametrize("model", [m for m in CURRENT if m.thinking and not m.makes_images
                                   and m.api == vertex_catalog.GENERATE_CONTENT],
                         ids=lambda model: model.id)
def test_each_model_takes_its_own_thinking_control(emulator, model):
    level = call(emulator, model, thinkingConfig={"thinkingLevel": "LOW"})
    budget = call(emulator, model, thinkingConfig={"thinkingBudget": 1024})
    if model.thinks_by_level:
        assert level.status_code == (200 if "LOW" in model.thinking["levels"] else 400), level.text
        assert budget.status_code == 400 and "thinkingLevel" in budget.text, budget.text
        for value in ("MINIMAL", "HIGH"):
            answer = call(emulator, model, thinkingConfig={"thinkingLevel": value})
            assert answer.status_code == (200 if value in model.thinking["levels"] else 400), \
                (value, answer.text)
    else:
        assert level.status_code == 400 and "thinking" in level.text.lower(), level.text
        assert budget.status_code == 200, budget.text


@pytest.mark.parametrize("model", [m for m in CURRENT if m.makes_images
                                   and m.api == vertex_catalog.GENERATE_CONTENT],
                         ids=lambda model: model.id)
def test_an_image_model_draws_each_of_its_aspect_ratios_and_no_other(strict_emulator, model):
    for ratio in model.image["aspect_ratios"]:
        response = call(strict_emulator, model, imageConfig={"aspectRatio": ratio})
        assert response.status_code == 200, (ratio, response.text)
        part = next(p for p in response.json()["candidates"][0]["content"]["parts"]
                    if "inlineData" in p)
        width, height = Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"]))).size
        w, h = map(int, ratio.split(":"))
        assert abs(width * h / (height * w) - 1) < 0.05, (ratio, width, height)
    refused = call(strict_emulator, model, imageConfig={"aspectRatio": "7:3"})
    assert refused.status_code == 400 and "7:3" in refused.text


def test_every_model_of_the_catalog_is_called_above():
    called = {m.id for m in CURRENT} | {m.id for m in DISCONTINUED}
    assert called == {m.id for m in MODELS}
