import pytest

from vertex.endpoints import Endpoint


def test_regional_url():
    assert Endpoint(project="p", location="us-central1").url("gemini-3.5-flash", "generateContent") == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
        "publishers/google/models/gemini-3.5-flash:generateContent")


def test_global_location_uses_the_global_host():
    assert Endpoint(project="p", location="global").url("gemini-3.5-flash", "generateContent") == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
        "publishers/google/models/gemini-3.5-flash:generateContent")


@pytest.mark.parametrize("location", ["us", "eu"])
def test_a_multi_region_uses_its_rep_host(location):
    assert Endpoint(project="p", location=location).url("gemini-3.8-flash", "generateContent") == (
        f"https://aiplatform.{location}.rep.googleapis.com/v1/projects/p/locations/{location}/"
        "publishers/google/models/gemini-3.8-flash:generateContent")
    assert Endpoint(project="p", location=location).live_url().startswith(
        f"wss://aiplatform.{location}.rep.googleapis.com/ws/")


def test_express_mode_has_no_project_in_the_path():
    assert Endpoint().url("gemini-3.5-flash", "streamGenerateContent") == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/"
        "gemini-3.5-flash:streamGenerateContent")


def test_local_endpoint_keeps_the_same_paths():
    endpoint = Endpoint(project="p", location="europe-west4", base_url="http://127.0.0.1:9/")
    assert endpoint.url("imagen-4.0-generate-001", "predict") == (
        "http://127.0.0.1:9/v1/projects/p/locations/europe-west4/publishers/google/models/"
        "imagen-4.0-generate-001:predict")


def test_full_resource_names_are_used_as_given():
    endpoint = Endpoint(project="p", location="us-east4")
    assert endpoint.url("projects/p/locations/us-east4/endpoints/123", "generateContent") == (
        "https://us-east4-aiplatform.googleapis.com/v1/projects/p/locations/us-east4/"
        "endpoints/123:generateContent")


@pytest.mark.parametrize("kwargs", [{"project": "a/b"}, {"location": ""}, {"location": "x/y"}])
def test_bad_project_or_location_is_refused(kwargs):
    with pytest.raises(ValueError):
        Endpoint(**kwargs)
