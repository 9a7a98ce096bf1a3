"""Request bodies, valid and invalid, each with the verdict Vertex AI gives.

The verdicts come from Google's protos (aiplatform_v1, strict) and the
documented rules, never from our own code: `proto_valid` says what
json_format.ParseDict over the raw body answers (None where the body needs
one of the API's leniencies first, which ParseDict does not have), `valid`
the API's whole verdict, `names` a fragment of the message (the field path).
`legacy_only`: spellings of the legacy v1 dialect, which Vertex AI reads
only from the legacy models (gemini-pro, gemini-pro-vision); a current model
refuses them with a message holding this fragment (the job translates them
before it sends, so for the job they are valid).
"""
from __future__ import annotations

from typing import NamedTuple

TEXT = {"role": "user", "parts": [{"text": "Describe a boat"}]}
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
           "RU5ErkJggg==")


class Case(NamedTuple):
    name: str
    body: dict
    valid: bool
    names: str | None = None       # a fragment of the API's message (for invalid ones)
    proto_valid: bool | None = None  # strict ParseDict over the raw body, where it applies
    legacy_only: str | None = None   # refused by current models, with this fragment


def body(**fields) -> dict:
    return {"contents": [TEXT], **fields}


CASES = [
    # --- valid, canonical camelCase -------------------------------------------------------
    Case("plain text", body(), True, proto_valid=True),
    Case("system instruction and config", body(
        systemInstruction={"parts": [{"text": "Be brief."}]},
        generationConfig={"temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 64,
                          "stopSequences": ["\n\n"], "seed": 7, "candidateCount": 2,
                          "presencePenalty": 0.5, "frequencyPenalty": -0.5}), True,
         proto_valid=True),
    Case("inline image part", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}}, {"text": "What is it?"}]}]},
         True, proto_valid=True),
    Case("file data with video metadata", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/clip.mp4"},
         "videoMetadata": {"startOffset": "1.5s", "endOffset": "10s"}},
        {"text": "Summarise"}]}]}, True, proto_valid=True),
    Case("multi-turn with a function call and response", {"contents": [
        TEXT,
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                      "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                         "response": {"temp_c": 4}}}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
            "type": "OBJECT", "properties": {"city": {"type": "STRING"}},
            "required": ["city"]}}]}]}, True, proto_valid=True),
    Case("executable code and its result", {"contents": [
        TEXT, {"role": "model", "parts": [
            {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}}]}]}, True,
         proto_valid=True),
    Case("thought part with a signature", {"contents": [
        TEXT, {"role": "model", "parts": [{"text": "thinking", "thought": True},
                                          {"text": "Answer", "thoughtSignature": "c2lnbmF0dXJl"}]},
        TEXT]}, True, proto_valid=True),
    Case("google search, code execution, url context tools", body(tools=[
        {"googleSearch": {}}, {"codeExecution": {}}, {"urlContext": {}}]), True,
         proto_valid=True),
    Case("retrieval tool (Vertex AI Search)", body(tools=[{"retrieval": {"vertexAiSearch": {
        "datastore": "projects/p/locations/global/collections/default_collection/"
                     "dataStores/d"}}}]), True, proto_valid=True),
    Case("tool config ANY with allowed names", body(
        tools=[{"functionDeclarations": [{"name": "f"}]}],
        toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}),
         True, proto_valid=True),
    Case("json output with a schema", body(generationConfig={
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}},
                           "propertyOrdering": ["n"]}}), True, proto_valid=True),
    Case("json schema (responseJsonSchema)", body(generationConfig={
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"n": {"type": "integer"}}}}),
         True, proto_valid=True),
    Case("enum output", body(generationConfig={
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["a", "b"]}}), True, proto_valid=True),
    Case("thinking, logprobs, modalities, image config", body(generationConfig={
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
        "responseLogprobs": True, "logprobs": 3, "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "16:9"}, "mediaResolution": "MEDIA_RESOLUTION_LOW"}),
         True, proto_valid=True),
    Case("speech config", body(generationConfig={"responseModalities": ["AUDIO"], "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}}), True, proto_valid=True),
    Case("safety settings and labels", body(
        safetySettings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH",
                         "method": "SEVERITY"}], labels={"team": "data"}), True,
         proto_valid=True),
    Case("numbers as strings (proto3 JSON)", body(generationConfig={
        "temperature": "0.5", "maxOutputTokens": "128", "seed": "42"}), True, proto_valid=True),
    Case("enum by number", body(safetySettings=[{"category": 1, "threshold": 4}]), True,
         proto_valid=True),
    Case("null means unset", body(generationConfig={"temperature": None}), True),
    # --- valid through the API's leniencies -------------------------------------------
    Case("snake_case names", {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                              "generation_config": {"max_output_tokens": 5,
                                                    "response_mime_type": "text/plain"},
                              "system_instruction": {"parts": [{"text": "s"}]},
                              "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                   "threshold": "BLOCK_NONE"}]}, True,
         proto_valid=True),
    Case("single objects for lists", {"contents": {"role": "user", "parts": {"text": "x"}},
                                      "safety_settings": {"category": "HARM_CATEGORY_HARASSMENT",
                                                          "threshold": "OFF"}}, True,
         proto_valid=False),
    Case("legacy roles USER/ASSISTANT", {"contents": [
        {"role": "USER", "parts": {"text": "Hello!"}},
        {"role": "ASSISTANT", "parts": {"text": "Argh!"}},
        {"role": "USER", "parts": {"text": "Wow"}}]}, True,
         legacy_only="Please use a valid role"),
    Case("legacy lowercase schema types", body(tools=[{"function_declarations": [{
        "name": "find_movies", "parameters": {"type": "object", "properties": {
            "location": {"type": "string"}}, "required": ["location"]}}]}]), True,
         proto_valid=False),
    Case("legacy threshold name", body(safetySettings=[{
        "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "BLOCK_MED_AND_ABOVE"}]),
         True, proto_valid=False, legacy_only="'safety_settings[0].threshold'"),
    Case("legacy duration objects", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"},
         "videoMetadata": {"startOffset": {"seconds": 60}, "endOffset": {"seconds": 70}}}]}]},
         True, proto_valid=False),
    # --- invalid: the protos refuse ------------------------------------------------------
    Case("unknown top-level field", body(bogus=1), False, 'Unknown name "bogus"',
         proto_valid=False),
    Case("unknown generationConfig field", body(generationConfig={"bogus": 1}), False,
         "Unknown name \"bogus\" at 'generation_config'", proto_valid=False),
    Case("unknown thinkingConfig field", body(generationConfig={"thinkingConfig": {
        "budget": 5}}), False, "at 'generation_config.thinking_config'", proto_valid=False),
    Case("unknown function declaration field", body(tools=[{"functionDeclarations": [
        {"name": "f", "returns": "x"}]}]), False, "at 'tools[0].function_declarations[0]'",
         proto_valid=False),
    Case("unknown toolConfig field", body(toolConfig={"mode": "ANY"}), False,
         "at 'tool_config'", proto_valid=False),
    Case("bad modality", body(generationConfig={"responseModalities": ["VIDEO"]}), False,
         "'generation_config.response_modalities[0]'", proto_valid=False),
    Case("seed not a number", body(generationConfig={"seed": "abc"}), False,
         "'generation_config.seed' (TYPE_INT32)", proto_valid=False),
    Case("fractional candidate count", body(generationConfig={"candidateCount": 2.5}), False,
         "'generation_config.candidate_count'", proto_valid=False),
    Case("bad base64", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]}, False,
         "'contents[0].parts[0].inline_data.data' (TYPE_BYTES)", proto_valid=False),
    Case("two data fields in one part", {"contents": [{"role": "user", "parts": [
        {"text": "x", "inlineData": {"mimeType": "image/png", "data": PNG_1PX}}]}]}, False,
         "Oneof field 'data' is already set", proto_valid=False),
    Case("bad harm category", body(safetySettings=[{"category": "HARM_CATEGORY_RUDE",
                                                    "threshold": "BLOCK_NONE"}]), False,
         "'safety_settings[0].category'", proto_valid=False),
    Case("text that is not a string", {"contents": [{"role": "user", "parts": [{"text": 5}]}]},
         False, "'contents[0].parts[0].text'", proto_valid=False),
    Case("list for a single message", body(generationConfig=[{"temperature": 1}]), False,
         "not repeating", proto_valid=False),
    Case("bool given as a string", body(generationConfig={"responseLogprobs": "true",
                                                          "logprobs": 2}), False,
         "'generation_config.response_logprobs'", proto_valid=False),
    Case("bad schema type", body(generationConfig={"responseMimeType": "application/json",
                                                   "responseSchema": {"type": "DICT"}}), False,
         "'generation_config.response_schema.type'", proto_valid=False),
    # --- invalid: the documented rules refuse ------------------------------------------
    Case("no contents", {"contents": []}, False, "empty contents field", proto_valid=True),
    Case("content without parts", {"contents": [{"role": "user", "parts": []}]}, False,
         "'contents[0].parts'", proto_valid=True),
    Case("unknown role", {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, False,
         "'contents[0].role'", proto_valid=True),
    Case("part without data", {"contents": [{"role": "user", "parts": [{"thought": True}]}]},
         False, "'contents[0].parts[0]'", proto_valid=True),
    Case("empty text", {"contents": [{"role": "user", "parts": [{"text": ""}]}]}, False,
         "empty text", proto_valid=True),
    Case("inline data without a MIME type", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"data": PNG_1PX}}]}]}, False, "inline_data.mime_type",
         proto_valid=True),
    Case("temperature above 2", body(generationConfig={"temperature": 2.5}), False,
         "'generation_config.temperature'", proto_valid=True),
    Case("top_p above 1", body(generationConfig={"topP": 7}), False,
         "'generation_config.top_p'", proto_valid=True),
    Case("presence penalty of 2 (exclusive)", body(generationConfig={"presencePenalty": 2}),
         False, "'generation_config.presence_penalty'", proto_valid=True),
    Case("nine candidates", body(generationConfig={"candidateCount": 9}), False,
         "'generation_config.candidate_count'", proto_valid=True),
    Case("six stop sequences", body(generationConfig={"stopSequences": list("abcdef")}), False,
         "'generation_config.stop_sequences'", proto_valid=True),
    Case("logprobs without responseLogprobs", body(generationConfig={"logprobs": 2}), False,
         "response_logprobs", proto_valid=True),
    Case("schema without a JSON MIME type", body(generationConfig={
        "responseSchema": {"type": "STRING"}}), False, "response_mime_type", proto_valid=True),
    Case("unsupported response MIME type", body(generationConfig={
        "responseMimeType": "text/html"}), False, "text/html", proto_valid=True),
    Case("bad function name", body(tools=[{"functionDeclarations": [{"name": "1 bad"}]}]),
         False, "'tools[0].function_declarations[0].name'", proto_valid=True),
    Case("allowed names without mode ANY", body(
        tools=[{"functionDeclarations": [{"name": "f"}]}],
        toolConfig={"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}),
         False, "allowed_function_names", proto_valid=True),
]

VALID = [c for c in CASES if c.valid]
INVALID = [c for c in CASES if not c.valid]
