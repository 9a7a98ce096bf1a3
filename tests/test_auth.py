import asyncio
import pickle

from vertex.auth import ApiKeyAuth, GoogleCredentialsAuth, NoAuth, Secret


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


def test_api_keys_and_secrets_never_show_in_repr_or_str():
    auth = ApiKeyAuth("super-secret-key")
    assert asyncio.run(auth.headers()) == {"x-goog-api-key": "super-secret-key"}
    assert "super-secret-key" not in repr(auth)
    secret = Secret("super-secret-key")
    assert "super-secret-key" not in repr(secret) and "super-secret-key" not in str(secret)
    assert pickle.loads(pickle.dumps(secret)).value == "super-secret-key"
    assert asyncio.run(NoAuth().headers()) == {}


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
