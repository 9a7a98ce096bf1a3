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
        model="gemini-2.5-flash", contents="Why is the sky blue?",
        config=types.GenerateContentConfig(max_output_tokens=5, system_instruction="Be brief"))
    assert response.text
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.usage_metadata.candidates_token_count == 5
    assert response.candidates[0].safety_ratings[0].probability is not None
    assert emulator.stats()["by_method"] == {"generateContent": 1}


def test_generate_content_with_a_schema(client):
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="Label it",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={"type": "OBJECT", "properties": {"label": {"type": "STRING"}},
                             "required": ["label"]}))
    assert isinstance(response.parsed["label"], str)


def test_generate_content_stream(client):
    chunks = list(client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Tell me a story"))
    assert len(chunks) > 1
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    whole = client.models.generate_content(model="gemini-2.5-flash", contents="Tell me a story")
    assert "".join(c.text for c in chunks) == whole.text


def test_count_tokens(client):
    assert client.models.count_tokens(model="gemini-2.5-flash",
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
