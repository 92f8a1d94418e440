"""``POST /webhooks/anthropic``: Anthropic's own signed platform webhooks, stored once, alerted.

Signatures are made by the reference ``standardwebhooks`` library, the one the anthropic SDK's
``client.beta.webhooks.unwrap`` verifies with; bodies are checked against the SDK's own types.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import pytest
from anthropic.types.beta import beta_webhook_event_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentguard_receiver import Received, forward_to
from agentguard_receiver._anthropic import ALERTING_EVENTS, parse_event
from agentguard_receiver._payload import MalformedPayload
from receiver.conftest import MakeReceiver
from receiver.webhooks import (
    ANTHROPIC_SECRET,
    NEW_SECRET,
    SECRET,
    TOKEN,
    anthropic_event,
    encode,
    notification,
    signed_headers,
)

PATH = "/webhooks/anthropic"


def _sdk_event_types() -> dict[str, dict[str, str]]:
    """Every event type of the installed SDK, with a body's ``data`` holding its fields."""
    (union, *_) = typing.get_args(beta_webhook_event_data.BetaWebhookEventData)
    found: dict[str, dict[str, str]] = {}
    for model in typing.get_args(union):
        (event_type,) = typing.get_args(model.model_fields["type"].annotation)
        found[event_type] = {
            name: event_type if name == "type" else f"{name}_{event_type}"
            for name in model.model_fields
        }
    return found


SDK_EVENT_TYPES = _sdk_event_types()


@pytest.fixture
def anthropic_receiver(make_receiver: MakeReceiver, tmp_path: Path) -> Iterator[httpx2.Client]:
    """A client of a receiver given the Anthropic signing key (and the alert secret, token)."""
    receiver = make_receiver(anthropic_secrets=[ANTHROPIC_SECRET], db_path=tmp_path / "a.db")
    with httpx2.Client(base_url=receiver.url, timeout=10.0) as http:
        yield http


def _post(
    http: httpx2.Client, document: dict[str, object], **signing: typing.Any
) -> httpx2.Response:
    body = encode(document)
    signing.setdefault("secret", ANTHROPIC_SECRET)
    return http.post(PATH, content=body, headers=signed_headers(body, **signing))


def _stored(http: httpx2.Client) -> tuple[list[dict[str, typing.Any]], list[dict[str, typing.Any]]]:
    events = http.get("/api/v1/anthropic/events").json()["events"]
    alerts = http.get("/api/v1/alerts").json()["alerts"]
    return events, alerts


def test_a_budget_reached_event_is_stored_and_becomes_an_alert_on_the_api_and_page(
    anthropic_receiver: httpx2.Client,
) -> None:
    http = anthropic_receiver
    event = anthropic_event("session.budget_reached", resource_id="sesn_over_budget")
    response = _post(http, event, msg_id="msg_anthropic_1")
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "alerts": 1, "duplicate": False}
    (alert,) = http.get("/api/v1/alerts?status=firing").json()["alerts"]
    assert alert["labels"] == {
        "alertname": "AnthropicSessionBudgetReached",
        "severity": "warning",
        "source": "anthropic",
        "session_id": "sesn_over_budget",
        "organization_id": "org_test",
        "workspace_id": "wrkspc_test",
    }
    assert alert["annotations"]["event_id"] == event["id"]
    assert "sesn_over_budget reached its budget" in alert["annotations"]["summary"]
    assert alert["webhookId"] == "msg_anthropic_1"
    assert alert["startsAt"] == "2026-12-03T14:00:00Z"
    page = http.get("/").text
    assert "AnthropicSessionBudgetReached" in page and "session_id=sesn_over_budget" in page
    (stored,) = http.get("/api/v1/anthropic/events").json()["events"]
    assert stored["type"] == "session.budget_reached"
    assert stored["alerted"] is True
    assert stored["data"] == event["data"]


def test_every_event_type_of_the_sdk_is_stored_and_only_those_in_the_table_alert(
    anthropic_receiver: httpx2.Client,
) -> None:
    http = anthropic_receiver
    client = anthropic.Anthropic(api_key="unused", webhook_key=ANTHROPIC_SECRET)
    assert len(SDK_EVENT_TYPES) >= 50
    for event_type, data in SDK_EVENT_TYPES.items():
        document = {**anthropic_event(), "data": data}
        body = encode(document)
        headers = signed_headers(body, secret=ANTHROPIC_SECRET)
        # The body is the SDK's shape, and the SDK itself accepts our signature.
        assert client.beta.webhooks.unwrap(body.decode(), headers=headers).data.type == event_type
        answer = http.post(PATH, content=body, headers=headers)
        assert answer.status_code == 200, (event_type, answer.text)
        assert answer.json()["alerts"] == (1 if event_type in ALERTING_EVENTS else 0), event_type
    listed = http.get("/api/v1/anthropic/events?limit=1000").json()
    assert listed["counts"] == dict.fromkeys(sorted(SDK_EVENT_TYPES), 1)
    assert listed["unknown"] == {}
    alerts = http.get("/api/v1/alerts?limit=1000").json()["alerts"]
    assert sorted(a["annotations"]["event_type"] for a in alerts) == sorted(ALERTING_EVENTS)
    by_type = {a["annotations"]["event_type"]: a for a in alerts}
    run = by_type["deployment_run.failed"]["labels"]
    assert run["alertname"] == "AnthropicDeploymentRunFailed"
    assert run["severity"] == "critical"
    assert run["deployment_run_id"] == "id_deployment_run.failed"
    credential = by_type["vault_credential.refresh_failed"]["labels"]
    assert credential["alertname"] == "AnthropicCredentialRefreshFailed"
    assert credential["vault_credential_id"] == "id_vault_credential.refresh_failed"
    assert credential["vault_id"] == "vault_id_vault_credential.refresh_failed"
    assert by_type["session.status_terminated"]["labels"]["alertname"] == (
        "AnthropicSessionTerminated"
    )


def test_the_readme_tables_every_event_type_of_the_sdk() -> None:
    readme = (Path(__file__).parents[2] / "packages/receiver/README.md").read_text()
    missing = [t for t in SDK_EVENT_TYPES if f"`{t}`" not in readme]
    assert not missing, f"packages/receiver/README.md does not say what becomes of {missing}"
    for rule in ALERTING_EVENTS.values():
        assert f"`{rule.alertname}`" in readme


def test_a_replay_is_stored_once_also_after_a_restart(
    make_receiver: MakeReceiver, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    body = encode(anthropic_event("deployment_run.failed", resource_id="drun_1"))
    headers = signed_headers(body, secret=ANTHROPIC_SECRET, msg_id="msg_replayed")
    first = make_receiver(anthropic_secrets=[ANTHROPIC_SECRET], db_path=db)
    with httpx2.Client(base_url=first.url) as http:
        answers = [http.post(PATH, content=body, headers=headers) for _ in range(10)]
        assert [a.status_code for a in answers] == [200] * 10
        assert [a.json()["duplicate"] for a in answers] == [False] + [True] * 9
    first.close()
    second = make_receiver(anthropic_secrets=[ANTHROPIC_SECRET], db_path=db)
    with httpx2.Client(base_url=second.url) as http:
        again = http.post(PATH, content=body, headers=headers)
        assert again.json() == {"stored": 0, "alerts": 0, "duplicate": True}
        events, alerts = _stored(http)
        assert len(events) == 1 and len(alerts) == 1


def test_a_retry_hours_later_signed_anew_is_stored_once(make_receiver: MakeReceiver) -> None:
    """Standard Webhooks retries keep the webhook-id but carry the attempt's own timestamp."""
    now = [time.time()]
    receiver = make_receiver(anthropic_secrets=[ANTHROPIC_SECRET], clock=lambda: now[0])
    event = anthropic_event("vault_credential.refresh_failed", vault_id="vlt_1")
    with httpx2.Client(base_url=receiver.url) as http:
        assert _post(http, event, msg_id="msg_retried", timestamp_s=now[0]).json()["stored"] == 1
        now[0] += 6 * 3600
        retry = _post(http, event, msg_id="msg_retried", timestamp_s=now[0])
        assert retry.json()["duplicate"] is True
        # The same event under another delivery id (a second endpoint, a redelivery) too.
        assert _post(http, event, msg_id="msg_other", timestamp_s=now[0]).json()["duplicate"]
        events, alerts = _stored(http)
        assert len(events) == 1 and len(alerts) == 1


def _body() -> bytes:
    return encode(anthropic_event(event_id="wevt_rejected"))


@pytest.mark.parametrize(
    ("make_headers", "status", "error"),
    [
        pytest.param(
            lambda: {
                **signed_headers(_body(), secret=ANTHROPIC_SECRET),
                "webhook-signature": "v1,AAAA",
            },
            401,
            "BAD_SIGNATURE",
            id="bad-signature",
        ),
        pytest.param(
            lambda: signed_headers(_body(), secret=SECRET),
            401,
            "BAD_SIGNATURE",
            id="our-alert-secret-is-not-anthropic-s",
        ),
        pytest.param(
            lambda: signed_headers(_body(), secret=NEW_SECRET),
            401,
            "BAD_SIGNATURE",
            id="wrong-key",
        ),
        pytest.param(
            lambda: signed_headers(_body(), secret=ANTHROPIC_SECRET, timestamp_s=time.time() - 360),
            401,
            "STALE_TIMESTAMP",
            id="stale",
        ),
        pytest.param(
            lambda: signed_headers(_body(), secret=ANTHROPIC_SECRET, timestamp_s=time.time() + 360),
            401,
            "STALE_TIMESTAMP",
            id="future",
        ),
        pytest.param(
            lambda: {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            401,
            "UNAUTHENTICATED",
            id="bearer-token",
        ),
        pytest.param(
            lambda: {"content-type": "application/json"}, 401, "UNAUTHENTICATED", id="unsigned"
        ),
        pytest.param(
            lambda: {
                k: v
                for k, v in signed_headers(_body(), secret=ANTHROPIC_SECRET).items()
                if k != "webhook-id"
            },
            400,
            "MALFORMED_HEADERS",
            id="no-id",
        ),
    ],
)
def test_unauthenticated_anthropic_webhooks_are_refused_and_nothing_is_stored(
    anthropic_receiver: httpx2.Client,
    make_headers: typing.Callable[[], dict[str, str]],
    status: int,
    error: str,
) -> None:
    response = anthropic_receiver.post(PATH, content=_body(), headers=make_headers())
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert ANTHROPIC_SECRET.removeprefix("whsec_") not in response.text
    assert _stored(anthropic_receiver) == ([], [])


def test_a_body_changed_after_signing_is_refused_as_the_sdk_refuses_it(
    anthropic_receiver: httpx2.Client,
) -> None:
    body = _body()
    headers = signed_headers(body, secret=ANTHROPIC_SECRET)
    tampered = body.replace(b"session.budget_reached", b"session.running")
    client = anthropic.Anthropic(api_key="unused", webhook_key=ANTHROPIC_SECRET)
    with pytest.raises(Exception, match="No matching signature"):
        client.beta.webhooks.unwrap(tampered.decode(), headers=headers)
    response = anthropic_receiver.post(PATH, content=tampered, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "BAD_SIGNATURE"
    assert _stored(anthropic_receiver) == ([], [])


def test_the_anthropic_key_does_not_authenticate_alert_webhooks(
    anthropic_receiver: httpx2.Client,
) -> None:
    body = encode(notification())
    response = anthropic_receiver.post(
        "/webhooks/alerts", content=body, headers=signed_headers(body, secret=ANTHROPIC_SECRET)
    )
    assert response.status_code == 401
    assert _stored(anthropic_receiver) == ([], [])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(
            encode({**anthropic_event(), "data": "session.running"}), id="data-not-object"
        ),
        pytest.param(
            encode({k: v for k, v in anthropic_event().items() if k != "id"}), id="no-event-id"
        ),
        pytest.param(encode({**anthropic_event(), "created_at": 1764770000}), id="created-at-int"),
        pytest.param(
            encode({**anthropic_event(), "data": {"id": "sesn_1", "type": ""}}), id="empty-type"
        ),
        pytest.param(
            encode({**anthropic_event(), "data": {"type": "session.running"}}), id="no-data-id"
        ),
    ],
)
def test_malformed_bodies_answer_400_after_the_signature_and_nothing_is_stored(
    anthropic_receiver: httpx2.Client, body: bytes
) -> None:
    response = anthropic_receiver.post(
        PATH, content=body, headers=signed_headers(body, secret=ANTHROPIC_SECRET)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "INVALID_PAYLOAD"
    assert _stored(anthropic_receiver) == ([], [])


def test_without_an_anthropic_key_the_path_answers_401(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver()
    with httpx2.Client(base_url=receiver.url) as http:
        response = _post(http, anthropic_event())
        assert response.status_code == 401
        assert response.json()["message"] == "this receiver accepts no Anthropic webhooks"
        assert _stored(http) == ([], [])


def test_an_unknown_event_type_is_stored_counted_and_logged_once(
    anthropic_receiver: httpx2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentguard_receiver")
    for _ in range(3):
        response = _post(anthropic_receiver, anthropic_event("session.teleported"))
        assert response.json() == {"stored": 1, "alerts": 0, "duplicate": False}
    listed = anthropic_receiver.get("/api/v1/anthropic/events?type=session.teleported").json()
    assert len(listed["events"]) == 3
    assert listed["unknown"] == {"session.teleported": 3}
    assert caplog.text.count("does not know: 'session.teleported'") == 1
    assert anthropic_receiver.get("/api/v1/alerts").json()["alerts"] == []


def test_a_recovery_resolves_the_failure_with_the_same_fingerprint(
    anthropic_receiver: httpx2.Client,
) -> None:
    http = anthropic_receiver
    for event_type in ("external_key.failed", "external_key.recovered"):
        event = anthropic_event(event_type, resource_id="ekey_1")
        typing.cast("dict[str, str]", event["data"]).pop("workspace_id")
        assert _post(http, event).json()["alerts"] == 1
    resolved, firing = http.get("/api/v1/alerts").json()["alerts"]
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert firing["labels"] == resolved["labels"]
    assert firing["labels"]["external_key_id"] == "ekey_1"
    assert firing["fingerprint"] == resolved["fingerprint"]
    assert firing["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["endsAt"] == "2026-12-03T14:00:00Z"


def test_bad_list_parameters_answer_400(anthropic_receiver: httpx2.Client) -> None:
    for query, parameter in (("limit=0", "limit"), ("since=\u0661", "since")):
        response = anthropic_receiver.get(f"/api/v1/anthropic/events?{query}")
        assert response.status_code == 400
        assert response.json()["details"]["parameter"] == parameter


def test_alerting_events_run_the_handlers_and_are_forwarded_like_our_own(
    make_receiver: MakeReceiver,
) -> None:
    downstream = make_receiver(secrets=[NEW_SECRET])
    forwarder = forward_to(
        f"{downstream.url}/webhooks/alerts",
        secrets=[NEW_SECRET],
        allow_http=True,
        allow_private=True,
    )
    seen: list[Received] = []
    done = threading.Event()

    def record(received: Received) -> None:
        seen.append(received)
        done.set()

    upstream = make_receiver(anthropic_secrets=[ANTHROPIC_SECRET], handlers=[forwarder, record])
    with httpx2.Client(base_url=upstream.url) as http:
        assert _post(http, anthropic_event("session.running")).json()["alerts"] == 0
        failed = anthropic_event("deployment_run.failed", resource_id="drun_9")
        assert _post(http, failed, msg_id="msg_run_failed").json()["alerts"] == 1
    assert done.wait(10)
    assert forwarder.flush(10)
    (received,) = seen
    assert received.anthropic_event is not None
    assert received.anthropic_event.event_id == failed["id"]
    assert received.webhook_id == "msg_run_failed"
    (alert,) = httpx2.get(f"{downstream.url}/api/v1/alerts", timeout=5).json()["alerts"]
    assert alert["labels"]["alertname"] == "AnthropicDeploymentRunFailed"
    assert alert["labels"]["deployment_run_id"] == "drun_9"
    assert alert["receiver"] == "anthropic"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.one_of(
        st.binary(max_size=300),
        _JSON.map(lambda document: json.dumps(document).encode()),
        st.dictionaries(st.sampled_from(["id", "created_at", "type"]), _JSON).map(
            lambda top: encode({**anthropic_event(), **top, "data": {**top}})
        ),
    )
)
def test_any_body_parses_or_is_malformed_never_anything_else(body: bytes) -> None:
    try:
        event = parse_event(body)
    except MalformedPayload:
        return
    assert event.type and event.resource_id and event.event_id


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.dictionaries(
        st.sampled_from(["type", "id", "vault_id", "Bad Key_id", "x"]),
        _JSON | st.sampled_from(sorted(ALERTING_EVENTS)),
        max_size=5,
    ),
    top=st.dictionaries(st.sampled_from(["id", "created_at", "type"]), _JSON, max_size=2),
)
def test_signed_random_events_never_get_a_5xx(
    anthropic_receiver: httpx2.Client, data: dict[str, object], top: dict[str, object]
) -> None:
    response = _post(anthropic_receiver, {**anthropic_event(), **top, "data": data})
    assert response.status_code in (200, 400), response.text
    if response.json().get("alerts"):
        (alert, *_) = anthropic_receiver.get("/api/v1/alerts?limit=1").json()["alerts"]
        assert all(key.isidentifier() for key in alert["labels"])
