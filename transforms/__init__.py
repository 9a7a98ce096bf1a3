"""Beam PTransforms, each usable on its own:

    ReadPromptRecords   JSONL files -> PromptRecords, and rejected lines
    PlanCalls           one record per id; skip or carry over what earlier runs answered
    GenerateContent     PromptRecords -> responses rows (Gemini generateContent)
    GenerateImages      PromptRecords -> images rows and image files (Imagen predict)
    CheckpointRows      saves rows as they come, so a dead job's answers are kept
    WriteParquetTable   rows -> Parquet files, one schema per table (schemas.py)
"""
