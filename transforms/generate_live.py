"""The Live API as a CallVertexAI handler: one session per record (a text
to speak or answer, or a recording to understand), one live row each, the
spoken answer saved as a WAV file under `audio/RUNID/`."""
from __future__ import annotations

import asyncio
import base64
import os
import stat
import time

from apache_beam.io.filesystems import FileSystems

import vertex_schema

from transforms import metrics, schemas
from transforms.call_vertex import CallHandler, record_row
from transforms.progress import ProgressSettings
from transforms.record_defaults import RecordDefaults
from transforms.prompt_records import PromptRecord, RejectedLine, record_prompt
from transforms.output_files import is_local_path
from transforms.save_files import FILES, CallAndSaveFiles
from transforms.vertex_connection import VertexConnection
from vertex import audio, live
from vertex.call_policy import CallResult
from vertex.client import VertexClient
from vertex.errors import DeadlineExceededError, first_line
from vertex.prices import Estimate, PriceTable
from vertex.request_body import ASSUMED_OUTPUT_TOKENS
from vertex.response_rows import Status, error_columns, usage_row

def live_body(obj: dict, defaults: RecordDefaults, model: str = "") -> dict:
    """{"setup": the setup's fields but the model, "input": {"text"} or
    {"audio_uri"}}: the audio is read when the record is called."""
    config = obj.get("config") or {}
    if not isinstance(config, dict):
        raise RejectedLine("config must be a JSON object (a LiveConnectConfig)")
    audio_uri = obj.get("audio_uri")
    if audio_uri is not None:
        if not isinstance(audio_uri, str) or not audio_uri.strip():
            raise RejectedLine("audio_uri must be a path or gs:// URI")
        turn = {"audio_uri": audio_uri}
    else:
        prompt = record_prompt(obj, defaults)
        if prompt is None:
            raise RejectedLine("a live record needs a prompt (or --prompt_template) or an "
                               "audio_uri")
        turn = {"text": prompt}
    try:
        setup = vertex_schema.check_live_setup(live.setup_from_config(config),
                                               defaults.api_version)
    except (ValueError, vertex_schema.InvalidRequest) as error:
        messages = getattr(error, "messages", [str(error)])
        raise RejectedLine(f"invalid Live API config: {'; '.join(messages)}") from None
    return {"setup": setup, "input": turn}



def read_audio(uri: str) -> bytes:
    """A recording (local or gs://, WAV or raw PCM) as the Live API takes it,
    read no further than a session can take (audio.read_live_input). A local
    path that is not a regular file (a FIFO, a device such as /dev/zero) is
    refused unopened: it could block, or never end."""
    if is_local_path(uri):
        try:
            mode = os.stat(uri).st_mode
        except OSError as error:
            raise audio.AudioError(f"cannot read {uri}: {error.strerror or error}") from None
        if not stat.S_ISREG(mode):
            raise audio.AudioError(f"cannot read {uri}: not a regular file")
    try:
        with FileSystems.open(uri) as f:
            return audio.read_live_input(f, uri)
    except audio.AudioError:
        raise
    except Exception as error:  # noqa: BLE001 - missing, no access: the row says which
        raise audio.AudioError(f"cannot read {uri}: {first_line(error)}") from None


class LiveHandler(CallHandler):
    table = "live"
    estimate_method = ("the Live API has no countTokens: text at 4 characters a token, "
                       "audio at 32 tokens a second")

    def __init__(self, run_id: str | None = None, prices: PriceTable | None = None):
        self.run_id = run_id
        self.prices = prices or PriceTable.load()

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        turn = record.body["input"]
        if "audio_uri" not in turn:
            return await client.live(record.model, record.body["setup"], text=turn["text"],
                                     tier=record.service_tier)
        started = time.time()
        try:  # within the record's deadline: a slow store must not hold the job
            pcm = await asyncio.wait_for(asyncio.to_thread(read_audio, turn["audio_uri"]),
                                         client.settings.deadline_s)
        except audio.AudioError as error:
            return CallResult(error=error, started_at=started)
        except asyncio.TimeoutError:
            return CallResult(error=DeadlineExceededError(
                f"the record's deadline of {client.settings.deadline_s:g}s passed while reading "
                f"{turn['audio_uri']}"), started_at=started)
        result = await client.live(record.model, record.body["setup"], audio=pcm,
                                   tier=record.service_tier)
        if result.ok:
            result.response["input_audio_seconds"] = audio.pcm_seconds(pcm, audio.INPUT_RATE)
        return result

    def estimate(self, record: PromptRecord) -> Estimate:
        """The turn's text at about 4 characters a token, or its recording at
        32 tokens a second (its length told by its size as 16 kHz 16-bit
        audio; 30 seconds when the file cannot be seen)."""
        turn = record.body["input"]
        if "text" in turn:
            tokens = max(1, len(turn["text"]) // 4)
        else:
            try:
                size = FileSystems.match([turn["audio_uri"]])[0].metadata_list[0].size_in_bytes
                seconds = size / (audio.INPUT_RATE * audio.SAMPLE_WIDTH)
            except Exception:  # noqa: BLE001 - a missing file is an error row when called
                seconds = 30
            tokens = round(seconds * audio.TOKENS_PER_SECOND)
        return Estimate(tokens, ASSUMED_OUTPUT_TOKENS)

    def place_file(self, row: dict, mime_type: str, stored: dict) -> None:
        row["audio_uri"] = stored["uri"]

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        if not result.ok:
            return 0.0
        return self.prices.call_cost(
            record.model, live.generate_content_usage(result.response.get("usageMetadata")),
            result.sent_tier or record.service_tier)

    def rows(self, record: PromptRecord, result: CallResult, redact) -> list[dict]:
        row = record_row(schemas.LIVE, record, result, self.run_id)
        if not result.ok:
            return [{**row, **error_columns(result.error, redact), "status": Status.ERROR,
                     "usage": usage_row(None)}]
        answer = result.response
        pcm, rate = answer["audio"], answer["sample_rate_hz"]
        row.update(status=Status.OK, text=answer["text"],
                   input_audio_seconds=answer.get("input_audio_seconds"), input_transcript=answer["input_transcript"],
                   output_transcript=answer["output_transcript"], go_away=answer["go_away"],
                   usage=usage_row(live.generate_content_usage(answer["usageMetadata"])),
                   first_audio_ms=None if answer["first_audio_ms"] is None
                   else round(answer["first_audio_ms"], 3))
        if pcm:
            row.update(audio_seconds=round(audio.pcm_seconds(pcm, rate), 3), sample_rate_hz=rate)
            row[FILES] = [{"index": 0, "mime_type": "audio/wav", "data_base64":
                           base64.b64encode(audio.wav_bytes(pcm, rate)).decode()}]
        return [row]

    def count(self, row: dict, counter) -> None:
        metrics.count_tokens(row["usage"], counter)
        metrics.count_cost_parts(
            self.prices.cost_parts(row["model"], row["usage"], None), counter)


class GenerateLive(CallAndSaveFiles):
    """Live PromptRecords to live rows, the spoken answers saved under
    `output`. A shorthand for CallVertexAI(LiveHandler(...)) then SaveFiles."""

    def __init__(self, connection: VertexConnection, output: str, run_id: str | None = None,
                 progress: ProgressSettings = ProgressSettings(),
                 metrics_namespace: str = metrics.NAMESPACE, prices: PriceTable | None = None):
        super().__init__(LiveHandler(run_id, prices), connection, output, run_id, progress,
                         metrics_namespace)
