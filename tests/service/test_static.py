"""The page's files over real HTTP: types, caching, the page's policy, nothing outside static/."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx2
import pytest

from agentguard_metrics import MemoryStore
from agentguard_service import MetricsService, create_app


@pytest.fixture(scope="module")
def service() -> Iterator[MetricsService]:
    with MetricsService(create_app(MemoryStore(), rate_limit_per_s=None)) as running:
        yield running


@pytest.fixture
def http(service: MetricsService) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=service.url, timeout=10.0) as client:
        yield client


def raw_get(service: MetricsService, path: str) -> tuple[int, bytes]:
    """``GET path`` sent as written: HTTP clients resolve ``..`` before sending."""
    with socket.create_connection((service.host, service.port), timeout=10.0) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def test_every_file_the_page_names_is_served_with_its_type(http: httpx2.Client) -> None:
    page = http.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    files = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))
    assert files == {
        "/static/app.js",
        "/static/page.css",
        "/static/favicon.svg",
    }
    types = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
    modules = {"/static/app.js"}
    for path in sorted(files):
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == types[path[path.rindex(".") :]], path
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["etag"]
        modules |= {f"/static/{m}" for m in re.findall(r'from "\./([\w.]+)"', response.text)}
    for path in sorted(modules):  # the scripts app.js imports
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert modules == {"/static/app.js", "/static/charts.js", "/static/format.js"}


def test_an_unchanged_file_is_revalidated_for_nothing(http: httpx2.Client) -> None:
    first = http.get("/static/app.js")
    again = http.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "no-cache"


def test_the_page_may_load_and_call_its_own_origin_only(http: httpx2.Client) -> None:
    headers = http.get("/").headers
    policy = dict(
        part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for kind in ("script-src", "style-src", "img-src", "connect-src"):
        assert policy[kind] == "'self'", kind
    assert policy["frame-ancestors"] == "'none'"
    assert headers["referrer-policy"] == "no-referrer"
    page = http.get("/").text
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/..%5capp.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/static/../../app.py",
        "/static/",
        "/static/missing.js",
    ],
)
def test_nothing_outside_static_is_served(service: MetricsService, path: str) -> None:
    status, body = raw_get(service, path)
    assert status in (400, 404), (path, status)
    assert b"def create_app" not in body
    assert b"root:" not in body


def test_page_files_are_never_rate_limited() -> None:
    with MetricsService(
        create_app(MemoryStore(), rate_limit_per_s=1.0, rate_limit_burst=1.0)
    ) as limited:
        client = httpx2.Client(base_url=limited.url, timeout=10.0)
        with client:
            for _ in range(3):  # a page reloaded three times at once
                for path in ("/", "/static/page.css", "/static/app.js", "/static/favicon.svg"):
                    assert client.get(path).status_code == 200, path
            assert client.get("/api/v1/snapshot").status_code == 200
            assert client.get("/api/v1/snapshot").status_code == 429
