"""Scoped tokens over real HTTP (uvicorn, httpx2): who reads which agents, 401, 403, alerts.

The data is ``service.dataset`` (agents ``support`` and ``billing``) plus an alert that fired
and an LLM call outside any run (agent ``""``): the ``support`` token must see ``support``'s
figures exactly as the full token sees them narrowed to ``agent=support``, and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import pytest

from agentguard.events import AlertStateChanged, Event
from agentguard.metricmap import LLM_CALLS, LLM_DURATION
from agentguard.testing import FakeClock
from agentguard_metrics import Bucket, MemoryStore
from agentguard_redis import RedisStore
from agentguard_service import (
    ALERTS_SCOPE,
    ALL_AGENTS_SCOPE,
    DEFAULT_GRANULARITY,
    GROUPS,
    QueryEngine,
    QueryParams,
    Token,
    create_app,
)
from agentguard_service._scoped import ScopedStore
from service import dataset
from service.test_app import Serve, _events, assert_error
from service.test_app import serve as serve  # noqa: PLC0414 (the fixture, re-exported)
from support.redis_server import RedisServer

if TYPE_CHECKING:
    import httpx2

OPS = Token(name="ops", secret="ops-0123456789", scopes=(ALL_AGENTS_SCOPE, ALERTS_SCOPE))
SUPPORT = Token(name="support-team", secret="support-0123456789", scopes=("agents:support",))
BOTH = Token(name="both", secret="both-0123456789", scopes=("agents:support", "agents:billing"))
EVERY_AGENT = Token(name="every-agent", secret="every-0123456789", scopes=(ALL_AGENTS_SCOPE,))
ALERTS_ONLY = Token(name="on-call", secret="oncall-0123456789", scopes=(ALERTS_SCOPE,))
TOKENS = (OPS, SUPPORT, BOTH, EVERY_AGENT, ALERTS_ONLY)
QUERY = {"timeframe": "1h", "granularity": "1m"}
DATA_ROUTES = ("/metrics", "/api/v1/snapshot", "/api/v1/metrics", "/api/v1/stream")


def auth(token: Token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.secret}"}


def extra() -> list[Event]:
    """An alert that fired, and an LLM call outside any run."""
    return [
        AlertStateChanged(
            rule="error_rate", state="firing", value=0.5, at_unix_s=dataset.at(1, 41)
        ),
        dataset.llm(dataset.at(1, 42), agent=None, model="opus", costs=(2.0, 0, 0, 0, 0)),
    ]


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    """The data set and :func:`extra`."""
    store = dataset.build(clock)
    dataset.feed(store, clock, extra(), process_id="extra")
    return store


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_scoped_store_reads_what_an_agent_filter_reads(
    kind: str, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    """Every group, at every timeframe's default granularity, on both stores."""
    clock.advance(dataset.NOW - clock.time())
    raw: MemoryStore
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        raw = RedisStore(server.url, clock=clock.time)  # type: ignore[assignment]  # feed() takes any store
    else:
        raw = MemoryStore(clock=clock.time, liveness_s=3600.0)
    dataset.feed(raw, clock, [*dataset.events(), *extra()])
    full = QueryEngine(raw, clock=clock.time)
    agents = ("support", "billing")
    for token, agent in ((SUPPORT, "support"), (BOTH, None), (ALERTS_ONLY, "nobody")):
        scoped = QueryEngine(ScopedStore(raw, token), clock=clock.time)
        for timeframe in ("1h", "24h", "7d", "30d"):
            groups = tuple(g for g in GROUPS if g != "alerts")
            params = QueryParams(
                timeframe=timeframe,
                granularity=DEFAULT_GRANULARITY[timeframe],
                groups=groups,
                aggregation="p50,p95,max",
                agent=agent,
            )
            want: Any = full.query(params)
            got: Any = scoped.query(params)
            if token is BOTH:  # support's and billing's figures added up
                each: list[Any] = [full.query(dataclasses.replace(params, agent=a)) for a in agents]
                for section, field in (("summary", "totalExecutions"), ("summary", "totalCost")):
                    added = sum(document[section][field] for document in each)
                    assert got[section][field] == pytest.approx(added), (timeframe, field)
                totals = [document["usage"]["totals"] for document in each]
                assert got["usage"]["totals"] == {k: sum(t[k] for t in totals) for k in totals[0]}
                assert got["summary"]["totalExecutions"] < want["summary"]["totalExecutions"]
                continue
            assert got == want, (token.name, timeframe)


@pytest.fixture
def http(serve: Serve, store: MemoryStore, clock: FakeClock) -> httpx2.Client:
    return serve(store, tokens=TOKENS, clock=clock.time, stream_interval_s=0.02)


def get(http: httpx2.Client, token: Token, path: str, **params: str) -> Any:
    response = http.get(path, params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_each_token_reads_its_own_agents(http: httpx2.Client) -> None:
    snapshots = {t.name: get(http, t, "/api/v1/snapshot") for t in TOKENS}
    assert snapshots["ops"]["agents"] == ["billing", "support"]
    assert snapshots["support-team"]["agents"] == ["support"]
    assert snapshots["both"]["agents"] == ["billing", "support"]
    assert snapshots["on-call"]["agents"] == []
    # support: 3 LLM calls and a tool call; billing: a tool call and an LLM call; 1 outside.
    executions = {name: s["total_executions"] for name, s in snapshots.items()}
    assert executions == {"ops": 7, "support-team": 4, "both": 6, "every-agent": 7, "on-call": 0}
    support = snapshots["support-team"]
    assert support["requests_total"] == {"llm:sonnet": 3, "tool:search": 1}
    assert support["cost_usd_total"] == 0.5 + 0.875
    assert support["error_count"] == 1
    assert support["breakers"] == {"anthropic": "open"}  # a breaker belongs to no agent
    assert snapshots["ops"]["cost_usd_total"] == 0.5 + 0.875 + 0.75 + 2.0


def test_a_scoped_query_is_the_full_query_narrowed_to_its_agent(http: httpx2.Client) -> None:
    for fmt in ("json", "csv", "prometheus"):
        full = http.get(
            "/api/v1/metrics",
            params={
                **QUERY,
                "agent": "support",
                "format": fmt,
                "metrics": "performance,usage,costs,errors,cache,tools,breakers,insights",
            },
            headers=auth(OPS),
        )
        scoped = http.get("/api/v1/metrics", params={**QUERY, "format": fmt}, headers=auth(SUPPORT))
        named = http.get(
            "/api/v1/metrics",
            params={**QUERY, "agent": "support", "format": fmt},
            headers=auth(SUPPORT),
        )
        assert scoped.status_code == named.status_code == full.status_code == 200
        if fmt == "json":
            want = {k: v for k, v in full.json().items() if k not in ("agent", "generatedAt")}
            for answer in (scoped, named):
                got = {k: v for k, v in answer.json().items() if k not in ("agent", "generatedAt")}
                assert got == want
        elif fmt == "csv":
            assert scoped.text == named.text == full.text
        else:
            assert named.text == full.text
            unlabelled = re.sub(r'agent="support",?', "", full.text).replace(",}", "}")
            assert scoped.text == unlabelled.replace("{}", "")


def test_an_agent_outside_the_scope_answers_403(http: httpx2.Client) -> None:
    for agent in ("billing", "nobody"):  # whether the agent exists or not
        response = http.get("/api/v1/metrics", params={"agent": agent}, headers=auth(SUPPORT))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "INSUFFICIENT_PERMISSIONS",
            "message": f"This token may not read agent {agent!r}; it may read support",
            "details": {
                "requiredPermission": f"agents:{agent}",
                "currentPermissions": ["agents:support"],
            },
        }
    body = assert_error(
        http.get("/api/v1/metrics", params={"agent": "support"}, headers=auth(ALERTS_ONLY)),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )
    assert body["message"] == "This token may not read agent 'support'; it may read no agent"
    assert get(http, BOTH, "/api/v1/metrics", agent="billing")["agent"] == "billing"
    # Parameters are checked before scopes: a bad query is a 400 whoever asks.
    bad = http.get("/api/v1/metrics", params={"agent": "billing", "x": "1"}, headers=auth(SUPPORT))
    assert_error(bad, 400, "INVALID_PARAMETERS")


def test_several_agents_and_the_batch_are_checked_item_by_item(http: httpx2.Client) -> None:
    refused = http.get(
        "/api/v1/metrics", params={"agent": "support,billing"}, headers=auth(SUPPORT)
    )
    assert refused.status_code == 403
    assert refused.json()["details"]["requiredPermission"] == "agents:billing"
    both = get(http, BOTH, "/api/v1/metrics", agent="support,billing", **QUERY)
    assert [a["agent"] for a in both["byAgent"]] == ["support", "billing"]
    batch = "/api/v1/metrics/batch"
    for body in (
        {"agents": ["support", "billing"]},
        {"endpointIds": ["support", "billing"]},
        {"endpoints": ["llm:sonnet"], "agent": "billing"},
    ):
        answer = http.post(batch, json=body, headers=auth(SUPPORT))
        assert answer.status_code == 403, body
        assert answer.json() == {
            "error": "INSUFFICIENT_PERMISSIONS",
            "message": "This token may not read agent 'billing'; it may read support",
            "details": {
                "requiredPermission": "agents:billing",
                "currentPermissions": ["agents:support"],
            },
        }
    alerts = http.post(
        batch, json={"agents": ["support"], "metrics": ["alerts"]}, headers=auth(SUPPORT)
    )
    assert alerts.status_code == 403
    assert alerts.json()["details"]["requiredPermission"] == "alerts:read"
    assert http.post(batch, json={"agents": ["support"]}).status_code == 401
    # An endpoint over every agent reads the token's agents only: support's two sonnet calls
    # of the hour, and no opus (the full token sees the opus call made outside any run).
    body = {"endpoints": ["llm:sonnet", "llm:opus"], "metrics": ["performance"], **QUERY}
    mine = http.post(batch, json=body, headers=auth(SUPPORT)).json()["items"]
    every = http.post(batch, json=body, headers=auth(OPS)).json()["items"]
    assert [i["summary"]["totalExecutions"] if i["hasData"] else None for i in mine] == [2, None]
    assert [i["summary"]["totalExecutions"] for i in every] == [2, 1]
    own = http.post(batch, json={"agents": ["support"], **QUERY}, headers=auth(SUPPORT))
    assert own.status_code == 200
    assert "alerts" not in own.json()["items"][0]


def test_no_token_or_a_wrong_one_answers_401(http: httpx2.Client) -> None:
    for path in DATA_ROUTES:
        assert_error(http.get(path), 401, "UNAUTHENTICATED")
        wrong = http.get(path, headers={"Authorization": f"Bearer {SUPPORT.secret}x"})
        assert_error(wrong, 401, "UNAUTHENTICATED")
        prefix = http.get(path, headers={"Authorization": f"Bearer {SUPPORT.secret[:-1]}"})
        assert_error(prefix, 401, "UNAUTHENTICATED")
        assert wrong.headers["www-authenticate"].startswith("Bearer")
    for path in ("/healthz", "/", "/static/page.css"):
        assert http.get(path).status_code == 200


def test_alerts_need_the_alerts_scope(http: httpx2.Client) -> None:
    fired = {"error_rate": {"fired": 1, "resolved": 0, "firing_now": 1}}
    assert get(http, OPS, "/api/v1/snapshot")["alerts"] == fired
    assert get(http, ALERTS_ONLY, "/api/v1/snapshot")["alerts"] == fired
    assert get(http, ALERTS_ONLY, "/api/v1/metrics", metrics="alerts")["alerts"]["byRule"]
    for token in (SUPPORT, EVERY_AGENT):
        assert get(http, token, "/api/v1/snapshot")["alerts"] == {}
        refused = http.get(
            "/api/v1/metrics", params={"metrics": "costs,alerts"}, headers=auth(token)
        )
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "INSUFFICIENT_PERMISSIONS",
            "message": "Reading alerts requires the alerts:read scope",
            "details": {
                "requiredPermission": "alerts:read",
                "currentPermissions": list(token.scopes),
            },
        }
        # Every group by default: the alerts are left out, the rest answers.
        document = get(http, token, "/api/v1/metrics", **QUERY)
        assert "alerts" not in document
        assert "costs" in document
        exposition = http.get("/metrics", headers=auth(token)).text
        assert "agentguard_alerts_total{" not in exposition
    assert 'agentguard_alerts_total{rule="error_rate",state="firing"} 1.0' in (
        http.get("/metrics", headers=auth(OPS)).text
    )


def test_metrics_shows_only_the_agents_in_scope(http: httpx2.Client) -> None:
    def calls(token: Token) -> float:
        text = http.get("/metrics", headers=auth(token)).text
        found = re.findall(r"^agentguard_llm_calls_total\{[^}]*\} (\S+)$", text, re.M)
        return sum(float(v) for v in found)

    assert {t.name: calls(t) for t in TOKENS} == {
        "ops": 5.0,
        "support-team": 3.0,
        "both": 4.0,
        "every-agent": 5.0,
        "on-call": 0.0,
    }
    runs = http.get("/metrics", headers=auth(SUPPORT)).text
    assert 'agent="support"' in runs
    assert 'agent="billing"' not in runs


def test_each_stream_carries_its_tokens_snapshot(http: httpx2.Client) -> None:
    for token, agents in ((SUPPORT, ["support"]), (OPS, ["billing", "support"])):
        with http.stream("GET", "/api/v1/stream", headers=auth(token)) as response:
            events = _events(response.iter_lines(), 2)
        assert [kind for kind, _ in events] == ["snapshot", "snapshot"]
        assert all(snapshot["agents"] == agents for _, snapshot in events)
        assert events[0][1] == get(http, token, "/api/v1/snapshot") | {
            "uptime_seconds": events[0][1]["uptime_seconds"]
        }


def test_the_single_token_reads_everything_beside_scoped_ones(
    serve: Serve,
    store: MemoryStore,
) -> None:
    http = serve(store, token="the-old-single-token", tokens=[SUPPORT])
    everything = http.get(
        "/api/v1/snapshot", headers={"Authorization": "Bearer the-old-single-token"}
    )
    assert everything.json()["agents"] == ["billing", "support"]
    assert everything.json()["alerts"] == {
        "error_rate": {"fired": 1, "resolved": 0, "firing_now": 1}
    }
    assert get(http, SUPPORT, "/api/v1/snapshot")["agents"] == ["support"]


def test_tokens_never_reach_the_logs_or_the_answers(
    serve: Serve,
    store: MemoryStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        http = serve(store, tokens=TOKENS)
        answers = [
            http.get("/api/v1/metrics", params={"agent": "billing"}, headers=auth(SUPPORT)),
            http.get("/api/v1/metrics", params={"metrics": "alerts"}, headers=auth(SUPPORT)),
            http.get("/api/v1/snapshot", headers={"Authorization": f"Bearer {OPS.secret}!"}),
            http.get("/api/v1/snapshot", headers=auth(OPS)),
            http.get("/metrics", headers=auth(BOTH)),
        ]
    assert [a.status_code for a in answers] == [403, 403, 401, 200, 200]
    for token in TOKENS:
        assert token.secret not in caplog.text
        assert token.secret not in repr(token)
        assert token.secret not in repr(TOKENS)
        for answer in answers:
            assert token.secret not in answer.text
            assert token.secret not in json.dumps(dict(answer.headers))


def test_misuse_fails_fast() -> None:
    with pytest.raises(ValueError, match="are the same token"):
        create_app(MemoryStore(), token=SUPPORT.secret, tokens=[SUPPORT])
    twin = Token(name="ops", secret="another-0123456789")
    with pytest.raises(ValueError, match="two tokens are named 'ops'"):
        create_app(MemoryStore(), tokens=[OPS, twin])
    with pytest.raises(TypeError, match=r"sequence of agentguard_service\.Token"):
        create_app(MemoryStore(), tokens=OPS)  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="unknown scope 'agent:support'"):
        Token(name="typo", secret="typo-0123456789", scopes=("agent:support",))
    with pytest.raises(ValueError, match="the token is empty"):
        Token(name="empty", secret="")
    with pytest.raises(ValueError, match="one scope or more"):
        Token(name="none", secret="none-0123456789", scopes=())


class SparseStore(MemoryStore):
    """A memory store whose per-value steps leave out the empty ones (sparser than asked)."""

    def buckets_by(self, *args: Any, **kwargs: Any) -> dict[str, list[Bucket]]:
        found = super().buckets_by(*args, **kwargs)
        return {value: [b for b in steps if b.value] for value, steps in found.items()}


def test_a_scoped_store_adds_up_steps_however_the_store_lists_them(clock: FakeClock) -> None:
    clock.advance(dataset.NOW - clock.time())
    sparse = SparseStore(clock=clock.time, liveness_s=3600.0)
    dataset.feed(sparse, clock, dataset.events())
    start, end = dataset.WINDOW_START, dataset.NOW + 30
    scoped = ScopedStore(sparse, BOTH)
    for name in (LLM_CALLS.name, LLM_DURATION.name):
        got = scoped.buckets(name, None, start, end, 60)
        assert len(got) == 60
        assert [b.start_unix_s for b in got] == list(
            range(int(dataset.WINDOW_START), int(dataset.NOW) + 30, 60)
        )
        assert sum(b.value for b in got) == 2 + 1  # support's two calls in the hour, billing's one
        if name.endswith("_seconds"):
            assert all(b.sketch is not None for b in got)
            assert sum(b.sketch.count for b in got if b.sketch is not None) == 3
        by_model = scoped.buckets_by(name, "model", start=start, end=end, step_s=60)
        assert {m: sum(b.value for b in steps) for m, steps in by_model.items()} == {
            "sonnet": 2,
            "haiku": 1,
        }
        assert all(len(steps) == 60 for steps in by_model.values())
