"""A local OAuth2 token endpoint that refuses every grant, and service-account
credentials pointed at it: real google-auth code, refused as Google refuses
revoked credentials, with no network."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSAL = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(REFUSAL).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def refusing_token_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()


def service_account_info(token_uri: str) -> dict:
    """A service-account key file's contents, with a fresh RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "test-project",
            "private_key_id": "k1", "private_key": pem,
            "client_email": "job@test-project.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": token_uri}
