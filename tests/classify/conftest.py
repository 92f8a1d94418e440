"""Fixtures of the classifier's tests: SDK errors built the way the SDK builds them, a bus."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anthropic
import httpx2
import pytest
from anthropic._error_classes import make_status_error

from agentguard import Bus

ApiError = Callable[..., anthropic.APIStatusError]


def build_api_error(
    status: int,
    error_type: str | None = "api_error",
    message: str = "Error",
    *,
    error_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> anthropic.APIStatusError:
    """The exception the SDK raises for a response of ``status`` with the API's error body.

    ``status=200`` gives what it raises for an ``event: error`` inside a stream.
    """
    error: dict[str, object] = {"type": error_type, "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    body = {"type": "error", "error": error}
    response = httpx2.Response(
        status,
        request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages"),
        json=body,
        headers={"request-id": "req_test", **(headers or {})},
    )
    return make_status_error(f"Error code: {status} - {body}", body=body, response=response)


@pytest.fixture
def api_error() -> ApiError:
    """Builds the SDK's exception for an error response (see :func:`build_api_error`)."""
    return build_api_error


@pytest.fixture
def bus() -> Bus:
    """A bus of the test's own."""
    return Bus()
