"""A local OAuth2 token endpoint that refuses every grant, and service-account
credentials pointed at it: real google-auth code, refused as Google refuses
revoked credentials, with no network."""
from __future__ import annotations

import json
from contextlib import contextmanager

from tests.support.local_http import QuietHandler, serving

REFUSAL = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


class _Refuse(QuietHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.answer(400, json.dumps(REFUSAL).encode())


@contextmanager
def refusing_token_server():
    with serving(_Refuse) as url:
        yield f"{url}/token"


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
