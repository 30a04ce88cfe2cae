"""``POST /v1/executions`` answered by the fast path gives the route's answer.

A body sent as ``application/vnd.otc+json`` is JSON to FastAPI but not plain
to the fast path, so the same request can be put to both; every case is
sent both ways and the answers compared (the fields that differ per run
aside). Requests the fast path must not answer itself are checked to reach
FastAPI, and plain valid ones to be answered by the fast path.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_harness import AsgiHarness, Auth

PER_RUN = ("duration",)
"""Result fields that differ between two runs of the same code."""

CASES: dict[str, tuple[Any, bool]] = {
    # name: (body, whether it validates: the fast path answers those itself)
    "value": ({"code": "print('hi')\n6 * 7"}, True),
    "guest-exception": ({"code": "x = 1\nraise KeyError('k')"}, True),
    "syntax-error": ({"code": "def f(:\n  pass"}, True),
    "tool-call": ({"code": "echo({'n': 1})", "tools": ["echo"]}, True),
    "unknown-tool": ({"code": "1", "tools": ["no_such_tool"]}, True),
    "limit-over-ceiling": ({"code": "1", "limits": {"timeout": 1e9}}, True),
    "lower-limit": ({"code": "while True: pass", "limits": {"timeout": 0.2}}, True),
    "extra-field": ({"code": "1", "colour": "red"}, False),
    "code-not-text": ({"code": 42}, False),
    "not-an-object": ([1, 2], False),
}


def _comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in PER_RUN}
        for call in body.get("tool_calls") or []:
            for key in ("started", "duration", "waited"):
                call.pop(key, None)
    return response.status_code, body


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_and_route_answer_alike(asgi: AsgiHarness, auth: Auth, case: str) -> None:
    body, validates = CASES[case]
    stats = asgi.app.state.fast_path
    before = stats.answered
    fast = asgi.request("POST", "/v1/executions", json=body, headers=auth("alice"))
    assert stats.answered - before == (1 if validates else 0)
    route_headers = {**auth("alice"), "Content-Type": "application/vnd.otc+json"}
    route = asgi.request("POST", "/v1/executions", json=body, headers=route_headers)

    assert stats.answered - before == (1 if validates else 0)  # the vnd+json request went to FastAPI
    assert _comparable(fast) == _comparable(route)
    assert fast.headers.get("content-type") == route.headers.get("content-type")
    assert ("x-execution-id" in fast.headers) == ("x-execution-id" in route.headers)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/v1/executions?verbose=1", {}),
        ("/v1/executions", {"Content-Type": "text/plain"}),
        ("/v1/executions/", {}),
    ],
    ids=["query-string", "text-plain", "trailing-slash"],
)
def test_requests_that_are_not_plain_go_to_fastapi(
    asgi: AsgiHarness, auth: Auth, url: str, headers: dict[str, str]
) -> None:
    stats = asgi.app.state.fast_path
    before = stats.answered
    response = asgi.request("POST", url, content=b'{"code": "1"}', headers={**auth("alice"), **headers})

    assert stats.answered == before
    assert response.status_code in (404, 307, 422), response.text


def test_a_missing_token_never_reaches_the_fast_path(asgi: AsgiHarness) -> None:
    stats = asgi.app.state.fast_path
    before = stats.answered
    response = asgi.request("POST", "/v1/executions", json={"code": "1"})

    assert response.status_code == 401
    assert stats.answered == before


def test_requests_do_not_look_for_an_opentelemetry_provider(
    asgi: AsgiHarness, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI's native telemetry (newer releases) is off: it looked up the
    global providers, reading the environment, on every request."""
    trace = pytest.importorskip("opentelemetry.trace")
    if not hasattr(asgi.app, "_native_telemetry"):
        pytest.skip("this FastAPI has no native telemetry")
    looked = []
    original = trace.get_tracer_provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: looked.append(1) or original())
    responses = [asgi.request("POST", "/v1/executions", json={"code": "1"}, headers=auth("alice")) for _ in range(2)]
    responses.append(asgi.request("GET", "/healthz"))

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert looked == []
