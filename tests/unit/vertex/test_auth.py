import asyncio
import json

import pytest

from tests.support.token_server import refusing_token_server, service_account_info
from vertex.auth import ApiKeyAuth, ApiKeySource, GoogleCredentialsAuth, NoAuth
from vertex.errors import FatalApiError


class StandInCredentials:
    """Stands in for google-auth credentials: no real ADC exists on a test
    machine, and refreshing real ones needs Google's token endpoint."""

    def __init__(self):
        self.token, self.valid, self.refreshes = None, False, 0
        self.quota_project_id = "billing-project"

    def refresh(self, request):
        self.refreshes += 1
        self.token, self.valid = f"token-{self.refreshes}", True


def test_adc_tokens_are_refreshed_once_when_invalid_and_reused_while_valid():
    credentials = StandInCredentials()
    auth = GoogleCredentialsAuth(credentials)

    async def many():
        return await asyncio.gather(*(auth.headers() for _ in range(20)))
    headers = asyncio.run(many())
    assert credentials.refreshes == 1
    assert all(h == {"authorization": "Bearer token-1", "x-goog-user-project": "billing-project"}
               for h in headers)
    credentials.valid = False  # expired
    assert asyncio.run(auth.headers())["authorization"] == "Bearer token-2"
    assert "token" not in repr(auth)


def test_api_keys_never_show_in_repr_or_str():
    auth = ApiKeyAuth("super-secret-key")
    assert asyncio.run(auth.headers()) == {"x-goog-api-key": "super-secret-key"}
    assert "super-secret-key" not in repr(auth)
    assert asyncio.run(NoAuth().headers()) == {}


def test_workers_read_the_key_from_their_environment_or_secret_manager(monkeypatch):
    monkeypatch.setenv("SOME_KEY_VAR", "key-from-env")
    source = ApiKeySource(env_var="SOME_KEY_VAR")
    assert source.read() == "key-from-env" and "key-from-env" not in repr(source) + str(source)
    monkeypatch.delenv("SOME_KEY_VAR")
    with pytest.raises(FatalApiError, match="missing"):
        source.read()

    # Secret Manager cannot be reached here: its client is stood in for.
    from types import SimpleNamespace

    from google.cloud import secretmanager
    asked = []

    class Client:
        def access_secret_version(self, request):
            asked.append(request["name"])
            return SimpleNamespace(payload=SimpleNamespace(data=b"key-from-sm\n"))
    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", Client)
    version = "projects/p/secrets/vertex-key/versions/3"
    assert ApiKeySource(secret_version=version).read() == "key-from-sm"
    assert asked == [version]

    class Refusing:
        def access_secret_version(self, request):
            raise PermissionError("403 denied")
    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", Refusing)
    with pytest.raises(FatalApiError, match="cannot read the API key from Secret Manager"):
        ApiKeySource(secret_version=version).read()


def test_credentials_refused_by_the_token_endpoint_stop_the_job(tmp_path, monkeypatch):
    """Real google-auth service-account credentials, refreshed against a local
    token endpoint that refuses them (as Google does for a revoked key)."""
    with refusing_token_server() as token_uri:
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(service_account_info(token_uri)))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        auth = GoogleCredentialsAuth()  # google.auth.default() reads the key file
        with pytest.raises(FatalApiError, match="refused when refreshing.*invalid_grant"):
            asyncio.run(auth.headers())


def test_an_unreachable_token_endpoint_is_a_transport_error_that_is_retried(tmp_path, monkeypatch):
    import google.auth.exceptions

    from vertex.retry import is_retryable
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(service_account_info("http://127.0.0.1:9/token")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    with pytest.raises(google.auth.exceptions.TransportError) as raised:
        asyncio.run(GoogleCredentialsAuth().headers())
    assert is_retryable(raised.value)


def test_missing_application_default_credentials_stop_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(FatalApiError, match="no Application Default Credentials"):
        GoogleCredentialsAuth()


def test_access_tokens_are_redacted_from_text_meant_for_output():
    import httpx

    from vertex.client import VertexClient
    from vertex.endpoints import Endpoint
    credentials = StandInCredentials()
    auth = GoogleCredentialsAuth(credentials)
    asyncio.run(auth.headers())  # token-1 is now live
    client = VertexClient(Endpoint(project="p"), auth, httpx.AsyncClient())
    assert client.redact("server said: bad token token-1 here") == "server said: bad token **** here"
    key_client = VertexClient(Endpoint(), ApiKeyAuth("AQ.secret"), httpx.AsyncClient())
    assert "AQ.secret" not in key_client.redact("key=AQ.secret rejected")
