"""The rejection matrix (DESIGN.md section 5, R4): every bad request is a JSON 4xx."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx2
import pytest

from agentguard_receiver import DEFAULT_MAX_BODY_BYTES
from receiver.conftest import MakeReceiver
from receiver.webhooks import (
    OTHER_SECRET,
    SECRET,
    TOKEN,
    encode,
    notification,
    raw_exchange,
    signed_headers,
)

BODY = encode(notification())


def _assert_json_error(response: httpx2.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) >= {"error", "message"}
    assert document["error"] == error
    assert "Traceback" not in response.text
    assert SECRET.removeprefix("whsec_") not in response.text


def _signed(**overrides: str) -> dict[str, str]:
    headers = signed_headers(BODY)
    headers.update(overrides)
    return {name: value for name, value in headers.items() if value != "<drop>"}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        pytest.param({"content-type": "application/json"}, 401, "UNAUTHENTICATED", id="no-auth"),
        pytest.param(
            _signed(**{"webhook-signature": "<drop>"}), 400, "MALFORMED_HEADERS", id="no-signature"
        ),
        pytest.param(_signed(**{"webhook-id": "<drop>"}), 400, "MALFORMED_HEADERS", id="no-id"),
        pytest.param(
            _signed(**{"webhook-timestamp": "soon"}), 400, "MALFORMED_HEADERS", id="bad-timestamp"
        ),
        pytest.param(
            _signed(**{"webhook-timestamp": "1.5e9"}),
            400,
            "MALFORMED_HEADERS",
            id="float-timestamp",
        ),
        pytest.param(
            _signed(**{"webhook-signature": "garbage"}),
            400,
            "MALFORMED_HEADERS",
            id="bad-signature-header",
        ),
        pytest.param(_signed(**{"webhook-id": "has space"}), 400, "MALFORMED_HEADERS", id="bad-id"),
        pytest.param(
            _signed(**{"webhook-signature": "v1,AAAA"}), 401, "BAD_SIGNATURE", id="wrong-signature"
        ),
        pytest.param(
            signed_headers(BODY, secret=OTHER_SECRET), 401, "BAD_SIGNATURE", id="unknown-secret"
        ),
        # timestamps made when the test runs, not when it is collected (a long run would
        # bring a "future" one back within the tolerance)
        pytest.param(
            lambda: signed_headers(BODY, timestamp_s=time.time() - 360),
            401,
            "STALE_TIMESTAMP",
            id="stale",
        ),
        pytest.param(
            lambda: signed_headers(BODY, timestamp_s=time.time() + 360),
            401,
            "STALE_TIMESTAMP",
            id="future",
        ),
        pytest.param(
            {"content-type": "application/json", "authorization": "Bearer wrong"},
            401,
            "UNAUTHENTICATED",
            id="wrong-token",
        ),
        pytest.param(
            {"content-type": "application/json", "authorization": f"Basic {TOKEN}"},
            400,
            "MALFORMED_HEADERS",
            id="not-bearer",
        ),
        pytest.param(
            {**signed_headers(BODY), "content-type": "text/plain"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            id="text",
        ),
        pytest.param(
            {**signed_headers(BODY), "content-type": "application/json; charset=latin-1"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            id="latin-1",
        ),
    ],
)
def test_bad_headers_are_rejected_with_a_json_error(
    client: httpx2.Client,
    headers: dict[str, str] | Callable[[], dict[str, str]],
    status: int,
    error: str,
) -> None:
    if callable(headers):
        headers = headers()
    _assert_json_error(
        client.post("/webhooks/alerts", content=BODY, headers=headers), status, error
    )
    assert client.get("/api/v1/alerts").json() == {"alerts": []}


def test_a_body_changed_after_signing_is_rejected(client: httpx2.Client) -> None:
    headers = signed_headers(BODY)
    tampered = BODY.replace(b"critical", b"harmless")
    _assert_json_error(
        client.post("/webhooks/alerts", content=tampered, headers=headers), 401, "BAD_SIGNATURE"
    )


def test_a_missing_content_type_is_rejected(client: httpx2.Client) -> None:
    headers = signed_headers(BODY)
    del headers["content-type"]
    _assert_json_error(
        client.post("/webhooks/alerts", content=BODY, headers=headers),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


def test_bearer_requests_are_refused_when_no_token_is_configured(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver(token=None)
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    response = httpx2.post(f"{receiver.url}/webhooks/alerts", content=BODY, headers=headers)
    _assert_json_error(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b"[" * 60_000, id="deeply-nested"),
        pytest.param(b'{"version": NaN}', id="nan"),
        pytest.param(encode({**notification(), "version": "3"}), id="version-3"),
        pytest.param(
            encode({k: v for k, v in notification().items() if k != "alerts"}), id="no-alerts"
        ),
        pytest.param(encode({**notification(), "commonLabels": {"a": 1}}), id="label-not-str"),
        pytest.param(encode({**notification(), "status": "burning"}), id="bad-status"),
        pytest.param(
            encode({**notification(), "alerts": [{"status": "firing"}]}), id="alert-lacks-fields"
        ),
        pytest.param(encode({**notification(), "alerts": "many"}), id="alerts-not-a-list"),
    ],
)
def test_malformed_bodies_are_rejected_after_the_signature(
    client: httpx2.Client, body: bytes
) -> None:
    response = client.post("/webhooks/alerts", content=body, headers=signed_headers(body))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "INVALID_PAYLOAD"


def test_a_declared_length_over_the_limit_is_refused_unread(client: httpx2.Client) -> None:
    body = b" " * (64 * 1024 + 1)
    response = client.post("/webhooks/alerts", content=body, headers=signed_headers(body))
    _assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert "at most 65536 bytes" in response.json()["message"]


def test_the_default_limit_is_64_kib_and_a_body_just_under_it_is_taken(
    client: httpx2.Client,
) -> None:
    assert DEFAULT_MAX_BODY_BYTES == 64 * 1024
    document = notification()
    room = 64 * 1024 - len(encode({**document, "padding": ""}))
    body = encode({**document, "padding": "x" * (room - 1)})
    assert len(body) == 64 * 1024 - 1
    response = client.post("/webhooks/alerts", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(client: httpx2.Client) -> None:
    port = client.base_url.port
    assert port is not None
    headers = signed_headers(BODY)
    head = (
        "POST /webhooks/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "\r\n"
    ).encode()
    piece = b"x" * 16 * 1024
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    # Five chunks pass the 64 KiB limit; the terminating zero-length chunk is never sent, so
    # an answer can only come from a server that stopped while reading.
    answer = raw_exchange(port, head, [chunk] * 5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer or b"content-length" in answer.lower()


def test_rate_limited_clients_get_429_with_retry_after(make_receiver: MakeReceiver) -> None:
    now = [time.time()]
    receiver = make_receiver(rate_limit_per_s=1.0, rate_limit_burst=2, clock=lambda: now[0])
    with httpx2.Client(base_url=receiver.url) as http:
        statuses = []
        for _ in range(3):
            body = encode(notification())
            statuses.append(
                http.post(
                    "/webhooks/alerts", content=body, headers=signed_headers(body)
                ).status_code
            )
        assert statuses == [200, 200, 429]
        body = encode(notification())
        limited = http.post("/webhooks/alerts", content=body, headers=signed_headers(body))
        _assert_json_error(limited, 429, "RATE_LIMITED")
        assert int(limited.headers["retry-after"]) >= 1
        now[0] += 1.0
        assert (
            http.post("/webhooks/alerts", content=body, headers=signed_headers(body)).status_code
            == 200
        )


def test_unknown_paths_and_methods_answer_json(client: httpx2.Client) -> None:
    _assert_json_error(client.get("/nope"), 404, "NOT_FOUND")
    _assert_json_error(client.get("/webhooks/alerts"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=burning", "status"),
        ("since=yesterday", "since"),
        ("since=nan", "since"),
        ("limit=0", "limit"),
    ],
)
def test_bad_query_parameters_answer_400(client: httpx2.Client, query: str, parameter: str) -> None:
    response = client.get(f"/api/v1/alerts?{query}")
    _assert_json_error(response, 400, "INVALID_PARAMETERS")
    assert response.json()["details"]["parameter"] == parameter
    assert json.dumps(response.json())
