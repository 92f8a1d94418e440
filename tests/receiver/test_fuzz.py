"""Hypothesis against the running receiver: random bodies and headers only ever get 2xx or 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard_receiver import Receiver, create_app
from agentguard_receiver._payload import MalformedPayload, parse_notification
from receiver.webhooks import SECRET, TOKEN, encode, notification, signed_headers
from support.digits import numeric_text, with_non_ascii_digits

_HEADER_NAMES = st.sampled_from(
    [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "authorization",
        "content-type",
        "content-length",
        "x-any",
    ]
)
# Printable ASCII without surrounding spaces: what an HTTP client will send at all (httpx2
# refuses a header value with leading or trailing whitespace before it reaches the server).
_HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    receiver = Receiver(
        create_app(secrets=[SECRET], token=TOKEN, rate_limit_per_s=None, max_body_bytes=4096)
    )
    try:
        with httpx2.Client(base_url=receiver.url, timeout=10.0) as client:
            yield client
    finally:
        receiver.close()


def _mutated(draw: st.DrawFn) -> dict[str, object]:
    document: dict[str, object] = notification()
    key = draw(st.sampled_from([*document, "alerts.0"]))
    if key == "alerts.0":
        document["alerts"] = [
            draw(st.dictionaries(st.sampled_from(["status", "labels", "startsAt"]), _JSON))
        ]
    else:
        document[key] = draw(_JSON)
    return document


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=5000))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    return encode(_mutated(draw))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=_bodies(),
    headers=st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=5),
    sign=st.booleans(),
)
def test_random_requests_never_get_a_5xx(
    http: httpx2.Client, body: bytes, headers: dict[str, str], sign: bool
) -> None:
    if sign:
        headers = {**signed_headers(body), **{k: v for k, v in headers.items() if k == "x-any"}}
    headers.pop("content-length", None)
    response = http.post("/webhooks/alerts", content=body, headers=headers)
    assert 200 <= response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) >= {"error", "message"}


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.dictionaries(
        st.sampled_from(["status", "since", "limit", "x"]), _HEADER_VALUES, max_size=3
    )
)
def test_random_queries_never_get_a_5xx(http: httpx2.Client, query: dict[str, str]) -> None:
    response = http.get("/api/v1/alerts", params=query)
    assert response.status_code in (200, 400), response.text


def test_a_superscript_limit_is_a_400_not_a_500(http: httpx2.Client) -> None:
    response = http.get("/api/v1/alerts?limit=%C2%B2")  # "²": str.isdigit says yes, int() no
    assert response.status_code == 400
    assert response.json()["details"]["parameter"] == "limit"


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.one_of(
        st.tuples(st.just("limit"), numeric_text() | with_non_ascii_digits("100")),
        st.tuples(
            st.just("since"),
            numeric_text()
            | with_non_ascii_digits("1767225600.5")
            | with_non_ascii_digits("2026-01-01T00:00:00Z"),
        ),
    )
)
def test_numbers_in_other_digits_are_refused(http: httpx2.Client, query: tuple[str, str]) -> None:
    parameter, value = query
    response = http.get("/api/v1/alerts", params={parameter: value})
    assert response.status_code == 400, (value, response.text)
    assert response.json()["details"]["parameter"] == parameter


@given(body=_bodies())
def test_parsing_accepts_notifications_or_raises_malformed_payload_only(body: bytes) -> None:
    try:
        parsed = parse_notification(body)
    except MalformedPayload as exc:
        message = str(exc)
    else:
        assert parsed.status in ("firing", "resolved")
        return
    assert message


@given(
    labels=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=5),
    status=st.sampled_from(["firing", "resolved"]),
)
def test_every_well_formed_notification_parses(labels: dict[str, str], status: str) -> None:
    document = notification(status=status)
    alerts = document["alerts"]
    assert isinstance(alerts, list)
    alerts[0]["labels"] = labels
    parsed = parse_notification(encode(document))
    assert parsed.alerts[0].labels == labels
    assert parsed.status == status
