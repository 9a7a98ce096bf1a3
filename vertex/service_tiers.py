"""Which capacity and price a request asks for: Standard, Flex or Priority
PayGo, and whether Provisioned Throughput may (or must) serve it. Google's
headers and rules, from ../shared/reference/service-tiers.md:

    X-Vertex-AI-LLM-Shared-Request-Type: flex | priority   (PayGo tier)
    X-Vertex-AI-LLM-Request-Type: dedicated                (Provisioned Throughput only)
    X-Vertex-AI-LLM-Request-Type: shared                   (PayGo only, skip PT)

Flex is served on the global endpoint only, slowly by design: its attempts
get Google's default timeout of 20 minutes (30 at most).
"""
from __future__ import annotations

TIERS = ("standard", "flex", "priority")
PROVISIONED = ("auto", "only", "never")
FLEX_TIMEOUT_S = 20 * 60
FLEX_MAX_TIMEOUT_S = 30 * 60
SHARED_REQUEST_TYPE = "X-Vertex-AI-LLM-Shared-Request-Type"
REQUEST_TYPE = "X-Vertex-AI-LLM-Request-Type"


def check(tier: str, provisioned: str = "auto", location: str | None = "global") -> None:
    """Raises ValueError for a combination Google refuses (location None:
    express mode or an endpoint without one, which is global)."""
    if tier not in TIERS:
        raise ValueError(f"service tier must be one of {', '.join(TIERS)}, not {tier!r}")
    if provisioned not in PROVISIONED:
        raise ValueError(f"provisioned throughput must be one of {', '.join(PROVISIONED)}, "
                         f"not {provisioned!r}")
    if tier == "flex" and location not in (None, "global"):
        raise ValueError(f"Flex PayGo is served on the global endpoint only, not in {location} "
                         "(use --vertex_location global)")
    if provisioned == "only" and tier != "standard":
        raise ValueError(f"Provisioned Throughput only (dedicated) cannot be {tier} PayGo")


def headers(tier: str = "standard", provisioned: str = "auto") -> dict[str, str]:
    result = {}
    if tier != "standard":
        result[SHARED_REQUEST_TYPE] = tier
    if provisioned == "only":
        result[REQUEST_TYPE] = "dedicated"
    elif provisioned == "never":
        result[REQUEST_TYPE] = "shared"
    return result
