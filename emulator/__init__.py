"""A local Vertex AI: the generateContent, streamGenerateContent, countTokens
and Imagen predict REST surface, with quotas, latency and faults.

It imports nothing from the pipeline, so it can be used on its own to point
any client (google-genai, curl, this pipeline) at a deterministic server.
"""
