"""Beam PTransforms, each usable on its own:

    ReadPromptRecords   JSONL files -> PromptRecords, and rejected lines
    GenerateContent     PromptRecords -> responses rows (Gemini generateContent)
    WriteParquetTable   rows -> Parquet files, one schema per table
"""
