"""Beam PTransforms, each usable on its own in any pipeline:

    ReadPromptRecords    JSONL files -> PromptRecords, and rejected rows
    BuildPromptRecords   SourceLines or plain dicts -> PromptRecords, and rejected rows
    PlanCalls            one record per id; skip or carry over what earlier runs answered
                         (transforms.plan_calls)
    CallVertexAI         PromptRecords -> rows, through a handler per API:
                         GeminiHandler (generateContent), ImagenHandler (predict)
    SaveFiles            the files in rows (images) -> storage, rows pointing at them
    GenerateContent      CallVertexAI(GeminiHandler) + SaveFiles
    GenerateImages       CallVertexAI(ImagenHandler) + SaveFiles
    GenerateLive         CallVertexAI(LiveHandler) + SaveFiles: Live API sessions, audio saved
    RecordDefaults       job-level settings a record's own values win over
    OutputSchema         typed answers: BigQuery's column list or a responseSchema
                         (RecordDefaults puts it in the requests; GenerateContent types
                         the rows' `parsed` column by it)
    CheckpointRows       saves rows as they come, so a dead job's answers are kept
                         (transforms.checkpoints)
    WriteParquetTable    rows -> Parquet files, one schema per table (schemas.py)
    WriteParquetTables   several streams -> their tables' files, with one set-up and finalize
"""
from transforms.call_vertex import CallHandler, CallVertexAI
from transforms.generate_content import GeminiHandler, GenerateContent
from transforms.generate_images import GenerateImages, ImagenHandler
from transforms.generate_live import GenerateLive, LiveHandler
from transforms.prompt_records import PromptRecord
from transforms.record_defaults import RecordDefaults
from transforms.read_prompt_records import BuildPromptRecords, ReadPromptRecords
from transforms.save_files import SaveFiles
from transforms.vertex_connection import VertexConnection
from transforms.write_parquet import TableFiles, WriteParquetTable, WriteParquetTables
from vertex.output_schema import OutputSchema

__all__ = ["BuildPromptRecords", "CallHandler", "CallVertexAI", "GeminiHandler",
           "GenerateContent", "GenerateImages", "GenerateLive", "ImagenHandler", "LiveHandler",
           "OutputSchema", "PromptRecord",
           "ReadPromptRecords", "RecordDefaults", "SaveFiles", "TableFiles",
           "VertexConnection", "WriteParquetTable", "WriteParquetTables"]
