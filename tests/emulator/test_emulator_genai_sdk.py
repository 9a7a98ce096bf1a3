"""The official google-genai SDK, in Vertex AI mode, pointed at the emulator:
what users do to test their own SDK code offline."""
import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials


@pytest.fixture
def client(emulator):
    # A fixed token: the emulator checks none, and no real credential is needed.
    return genai.Client(vertexai=True, project="test-project", location="us-central1",
                        credentials=Credentials(token="test-token"),
                        http_options=types.HttpOptions(base_url=emulator.url))


def test_generate_content(client, emulator):
    response = client.models.generate_content(
        model="gemini-3.5-flash", contents="Why is the sky blue?",
        config=types.GenerateContentConfig(max_output_tokens=5, system_instruction="Be brief"))
    assert response.text
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata.candidates_token_count == 5
    assert response.candidates[0].safety_ratings[0].probability is not None
    assert emulator.stats()["by_method"] == {"generateContent": 1}


def test_generate_content_with_a_schema(client):
    response = client.models.generate_content(
        model="gemini-3.5-flash", contents="Label it",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={"type": "OBJECT", "properties": {"label": {"type": "STRING"}},
                             "required": ["label"]}))
    assert isinstance(response.parsed["label"], str)


def test_generate_content_stream(client):
    chunks = list(client.models.generate_content_stream(
        model="gemini-3.5-flash", contents="Tell me a story"))
    assert len(chunks) > 1
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    whole = client.models.generate_content(model="gemini-3.5-flash", contents="Tell me a story")
    assert "".join(c.text for c in chunks) == whole.text


def test_count_tokens(client):
    assert client.models.count_tokens(model="gemini-3.5-flash",
                                      contents="one two three").total_tokens == 3


def test_generate_images(client):
    response = client.models.generate_images(
        model="imagen-4.0-generate-001", prompt="a lighthouse at dawn",
        config=types.GenerateImagesConfig(number_of_images=2, aspect_ratio="16:9",
                                          output_mime_type="image/jpeg"))
    assert len(response.generated_images) == 2
    image = response.generated_images[0].image
    assert image.mime_type == "image/jpeg" and image.image_bytes[:2] == b"\xff\xd8"


def test_sdk_errors_surface_as_api_errors(client):
    with pytest.raises(genai.errors.ClientError) as error:
        client.models.generate_content(model="gemini-0-missing", contents="x")
    assert error.value.code == 404


@pytest.fixture
def global_client(emulator):
    # v1: the v1beta1 protos installed here (google-cloud-aiplatform 1.165) have
    # no ThinkingConfig.thinking_level yet, and the emulator judges by them.
    return genai.Client(vertexai=True, project="test-project", location="global",
                        credentials=Credentials(token="test-token"),
                        http_options=types.HttpOptions(base_url=emulator.url, api_version="v1"))


def test_a_gemini_3_model_thinks_by_level(global_client):
    response = global_client.models.generate_content(
        model="gemini-3-flash-preview", contents="Plan a picnic",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(
            thinking_level=types.ThinkingLevel.LOW, include_thoughts=True)))
    assert response.text
    parts = response.candidates[0].content.parts
    assert parts[0].thought and parts[1].thought_signature  # the signature to send back
    assert response.usage_metadata.thoughts_token_count > 0


def test_a_gemini_image_model_draws_images(client):
    response = client.models.generate_content(
        model="gemini-2.5-flash-image", contents="a lighthouse at dawn",
        config=types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="16:9")))
    [part] = response.candidates[0].content.parts
    assert part.inline_data.mime_type == "image/png"
    assert part.inline_data.data[:8] == b"\x89PNG\r\n\x1a\n"
    details = {d.modality: d.token_count
               for d in response.usage_metadata.candidates_tokens_details}
    assert details == {types.MediaModality.IMAGE: 1290}


def test_a_model_where_vertex_ai_does_not_serve_it_is_not_found(client, global_client):
    with pytest.raises(genai.errors.ClientError) as regional:  # global endpoint only
        client.models.generate_content(model="gemini-3-flash-preview", contents="x")
    assert regional.value.code == 404
    assert global_client.models.generate_content(model="gemini-3-flash-preview",
                                                 contents="x").text


# Vertex AI's explicit context cache, through the SDK's caches API.

GUIDE = "Label each review as positive, negative or mixed. " * 1200  # past 3.5 Flash's minimum


def test_context_cache_create_get_list_update_use_and_delete(client):
    cache = client.caches.create(model="gemini-3.5-flash", config=types.CreateCachedContentConfig(
        system_instruction=GUIDE, display_name="run-r1", ttl="300s"))
    assert cache.name.startswith("projects/test-project/locations/us-central1/cachedContents/")
    assert cache.usage_metadata.total_token_count >= 4096 and cache.display_name == "run-r1"
    assert client.caches.get(name=cache.name).expire_time == cache.expire_time
    assert cache.name in [c.name for c in client.caches.list()]
    later = client.caches.update(name=cache.name,
                                 config=types.UpdateCachedContentConfig(ttl="7200s"))
    assert later.expire_time > cache.expire_time
    answer = client.models.generate_content(
        model="gemini-3.5-flash", contents="The blender is great",
        config=types.GenerateContentConfig(cached_content=cache.name))
    usage = answer.usage_metadata
    assert usage.cached_content_token_count == cache.usage_metadata.total_token_count
    assert usage.prompt_token_count > usage.cached_content_token_count
    assert usage.cache_tokens_details[0].token_count == usage.cached_content_token_count
    with pytest.raises(Exception, match="system_instruction, tools or tool_config"):
        client.models.generate_content(
            model="gemini-3.5-flash", contents="x", config=types.GenerateContentConfig(
                cached_content=cache.name, system_instruction="another"))
    client.caches.delete(name=cache.name)
    with pytest.raises(Exception, match="404"):
        client.caches.get(name=cache.name)
    with pytest.raises(Exception, match="not found"):
        client.models.generate_content(model="gemini-3.5-flash", contents="x",
                                       config=types.GenerateContentConfig(cached_content=cache.name))


def test_context_cache_below_the_minimum_or_on_a_model_without_it_is_refused(client):
    with pytest.raises(Exception, match="minimum token count to start caching is 4096"):
        client.caches.create(model="gemini-3.5-flash", config=types.CreateCachedContentConfig(
            system_instruction="too short"))
    with pytest.raises(Exception, match="not supported"):
        client.caches.create(model="gemini-4-argon", config=types.CreateCachedContentConfig(
            system_instruction=GUIDE))
