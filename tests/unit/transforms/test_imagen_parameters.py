import pytest

from transforms.save_files import GeneratedFiles, file_stem
from vertex.imagen import read_predictions
from vertex_schema import InvalidRequest
from vertex_schema.imagen import check_predict


def check_parameters(params):
    return check_predict({"instances": [{"prompt": "a boat"}], "parameters": params})


@pytest.mark.parametrize("params", [
    {}, {"sampleCount": 4, "aspectRatio": "9:16"},
    {"seed": 7, "addWatermark": False, "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 0}},
    {"personGeneration": "dont_allow", "safetySetting": "block_only_high", "negativePrompt": "blur",
     "enhancePrompt": False, "includeRaiReason": True, "includeSafetyAttributes": True,
     "storageUri": "gs://bucket/out/", "language": "en"},
])
def test_valid_parameters_pass(params):
    check_parameters(params)


@pytest.mark.parametrize("params, message", [
    ({"sampleCount": 0}, "sampleCount"), ({"sampleCount": 5}, "sampleCount"),
    ({"sampleCount": True}, "sampleCount"), ({"aspectRatio": "2:3"}, "aspectRatio"),
    ({"seed": 7}, "addWatermark"), ({"seed": 2147483648, "addWatermark": False}, "seed"),
    ({"personGeneration": "allow_everyone"}, "personGeneration"),
    ({"safetySetting": "block_nothing"}, "safetySetting"),
    ({"outputOptions": {"mimeType": "image/avif"}}, "mimeType"),
    ({"outputOptions": {"compressionQuality": 101}}, "compressionQuality"),
    ({"outputOptions": {"quality": 1}}, "outputOptions"),
    ({"storageUri": "/tmp/x"}, "storageUri"), ({"enhancePrompt": "yes"}, "enhancePrompt"),
    ({"numberOfImages": 2}, "Unknown name \"numberOfImages\" at 'parameters'"),
])
def test_invalid_parameters_are_named(params, message):
    with pytest.raises(InvalidRequest, match=message):
        check_parameters(params)


def test_predictions_and_the_filter_reason_are_read_apart():
    images, reason = read_predictions({"predictions": [
        {"bytesBase64Encoded": "AAA", "mimeType": "image/png", "prompt": "better",
         "safetyAttributes": {"categories": ["Hate"], "scores": [0.1]}},
        {"gcsUri": "gs://b/x.png", "mimeType": "image/png"},
        {"raiFilteredReason": "filtered out 1"}]})
    assert [(i.index, i.data_base64, i.gcs_uri) for i in images] == [
        (0, "AAA", None), (1, None, "gs://b/x.png")]
    assert images[0].enhanced_prompt == "better"
    assert images[0].safety_attributes == [{"category": "Hate", "score": 0.1}]
    assert reason == "filtered out 1"
    assert read_predictions({}) == ([], None)


def test_file_names_come_from_the_run_the_record_id_the_index_and_the_content():
    files = GeneratedFiles("gs://bucket/out", "run7")
    assert files.path("sku-1", 0, "image/jpeg", "ab12" * 16) == \
        "gs://bucket/out/images/run7/sku-1-0-ab12ab12ab12.jpg"
    assert file_stem("a/b c") != file_stem("a_b_c") and "/" not in file_stem("a/b c")
