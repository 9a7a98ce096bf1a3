"""A small asynchronous client for the Vertex AI generative REST API.

One concept per module: `endpoints` (URLs), `auth` (credentials),
`request_body` (building and normalising request bodies), `response_rows`
(parsing responses into plain rows), `imagen` (Imagen parameters and
predictions), `rate_limit`, `retry`, `errors`, `http` (the HTTP client) and
`client` (the calls, putting it all together).
It knows nothing of Beam.
"""
