"""The JSON API end to end, in-process (ASGI) and over loopback (uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from server_harness import CEILINGS, Auth, Send

from runtime import Sandbox

RESULT_KEYS = ("ok", "stdout", "stderr", "value", "value_kind", "error", "duration", "fuel_consumed", "tool_calls")


def test_run_returns_the_execution_result(send: Send, auth: Auth) -> None:
    response = send("POST", "/v1/executions", json={"code": "print('hi')\n6 * 7"}, headers=auth("alice"))

    assert response.status_code == 200, response.text
    assert len(response.headers["x-execution-id"]) == 32
    body = response.json()
    assert set(body) == {*RESULT_KEYS}
    assert (body["ok"], body["stdout"], body["value"], body["value_kind"]) == (True, "hi\n", 42, "json")
    assert body["error"] is None


def test_result_matches_the_library(send: Send, auth: Auth, sandbox: Sandbox) -> None:
    code = "import json\nprint(json.dumps({'a': [1, 2]}))\nraise KeyError('k')"
    body = send("POST", "/v1/executions", json={"code": code}, headers=auth("alice")).json()
    local = sandbox.run(code).to_dict()

    for key in ("ok", "stdout", "stderr", "value", "value_kind", "tool_calls"):
        assert body[key] == local[key], key
    assert body["error"] == local["error"]


def test_granted_tools_run_with_the_callers_identity(send: Send, auth: Auth) -> None:
    code = "[echo({'n': 1}), whoami(), weather('Oslo')['celsius']]"
    response = send(
        "POST", "/v1/executions", json={"code": code, "tools": ["echo", "whoami", "weather"]}, headers=auth("bob")
    )

    body = response.json()
    assert body["value"] == [{"n": 1}, "bob", 12]
    assert [call["tool"] for call in body["tool_calls"]] == ["echo", "whoami", "weather"]
    assert all("detail" not in call for call in body["tool_calls"])  # host-only


def test_tool_outside_the_grant_does_not_exist(send: Send, auth: Auth) -> None:
    code = "ok = echo(1)\n[ok, 'whoami' in globals(), 'weather' in dir(tools)]\nweather('Oslo')"
    response = send("POST", "/v1/executions", json={"code": code, "tools": ["echo"]}, headers=auth("alice"))

    body = response.json()
    assert response.status_code == 200
    assert (body["error"]["error"], body["error"]["type"]) == ("GuestException", "NameError")
    assert "weather" in body["error"]["message"]
    assert body["tool_calls"][0]["tool"] == "echo"


def test_no_tools_by_default(send: Send, auth: Auth) -> None:
    body = send("POST", "/v1/executions", json={"code": "echo(1)"}, headers=auth("alice")).json()
    assert body["error"]["type"] == "NameError"


@pytest.mark.parametrize("names", [["nope"], ["echo", "crm.delete_everything"]], ids=["unknown", "one-unknown"])
def test_unknown_tool_in_the_grant_is_refused(send: Send, auth: Auth, names: list[str]) -> None:
    response = send("POST", "/v1/executions", json={"code": "1", "tools": names}, headers=auth("alice"))

    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "tools", len(names) - 1]
    assert repr(names[-1]) in problem["msg"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", 60.0), ("memory_mb", 4096), ("max_output_bytes", 10**9), ("tool_timeout", 31)],
    ids=["timeout", "memory", "output", "tool-timeout"],
)
def test_limits_over_the_ceilings_are_refused(send: Send, auth: Auth, field: str, value: Any) -> None:
    response = send("POST", "/v1/executions", json={"code": "1", "limits": {field: value}}, headers=auth("alice"))

    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "limits", field]
    assert f"ceiling {getattr(CEILINGS, field)}" in problem["msg"]


def test_lower_limits_apply(send: Send, auth: Auth) -> None:
    code = "print('spinning')\nwhile True: pass"
    response = send("POST", "/v1/executions", json={"code": code, "limits": {"timeout": 0.3}}, headers=auth("alice"))

    error = response.json()["error"]
    assert (error["error"], error["limit"], error["value"]) == ("TimeoutExceeded", "timeout", 0.3)
    assert response.json()["stdout"] == "spinning\n"


def test_code_over_the_ceiling_is_refused(send: Send, auth: Auth) -> None:
    code = "x = 1\n" * (CEILINGS.max_code_bytes // 6 + 1)
    response = send("POST", "/v1/executions", json={"code": code}, headers=auth("alice"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "code"]
    assert "max_code_bytes" in response.json()["detail"][0]["msg"]


def test_body_over_the_request_cap_is_refused_before_it_is_read(send: Send, auth: Auth) -> None:
    body = b'{"code": "' + b"#" * (3 << 20) + b'"}'
    response = send(
        "POST", "/v1/executions", content=body, headers={**auth("alice"), "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert "over" in response.json()["detail"]


def test_chunked_body_over_the_cap_is_refused(live_http: httpx.Client, auth: Auth) -> None:
    # No Content-Length: the cap is enforced while the body is read (over the wire, in chunks).
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"#" * (100 << 10)

    response = live_http.post(
        "/v1/executions", content=chunks(), headers={**auth("alice"), "Content-Type": "application/json"}
    )

    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"code": 5}',
        b'{"code": "1", "extra": true}',
        b'{"code": "1", "limits": {"timeout": "5"}}',
        b'{"code": "1", "limits": {"memory_mb": true}}',
        b'{"code": "1", "limits": {"timeout": NaN}}',
        b'{"code": "1", "limits": {"timeout": -1}}',
        b'{"code": "1", "tools": "echo"}',
        b'{"code": "1"',
        b'{"\\ud800": 1, "code": "1"}',
        b'{"code": "\\ud800"}',
    ],
    ids=[
        "missing-code",
        "code-not-text",
        "unknown-key",
        "string-number",
        "bool-int",
        "nan",
        "negative",
        "tools-string",
        "truncated-json",
        "surrogate-key",
        "surrogate-code",
    ],
)
def test_invalid_bodies_are_422(send: Send, auth: Auth, body: bytes) -> None:
    response = send(
        "POST", "/v1/executions", content=body, headers={**auth("alice"), "Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert all({"loc", "msg", "type"} <= set(problem) for problem in response.json()["detail"])


def test_tools_are_listed_and_searched(send: Send, auth: Auth) -> None:
    listed = send("GET", "/v1/tools", headers=auth("alice")).json()["tools"]
    found = send("GET", "/v1/tools", params={"q": "weather forecast for a city", "k": 2}, headers=auth("alice"))

    names = [tool["name"] for tool in listed]
    assert names == ["echo", "whoami", "nap", "weather", "users.get", "orders.create", *names[6:]]
    assert listed[0]["parameters"]["properties"]["x"]["description"] == "Anything JSON."
    assert found.json()["tools"][0]["name"] == "weather"
    assert len(found.json()["tools"]) <= 2


@pytest.mark.parametrize("params", [{"q": " "}, {"q": ""}, {"k": 0}, {"k": 101}, {"k": "x"}], ids=str)
def test_bad_tool_searches_are_422(send: Send, auth: Auth, params: dict[str, Any]) -> None:
    assert send("GET", "/v1/tools", params=params, headers=auth("alice")).status_code == 422


def test_health(send: Send) -> None:
    response = send("GET", "/healthz")
    assert response.json() == {"status": "ok", "in_flight": 0, "workers": 1}


def test_openapi_documents_the_ceilings_and_tools(send: Send) -> None:
    schema = send("GET", "/openapi.json").json()

    components = schema["components"]["schemas"]
    timeout = components["LimitsOverride"]["properties"]["timeout"]["anyOf"][0]
    assert timeout["maximum"] == CEILINGS.timeout
    assert "echo" in components["ExecutionRequest"]["properties"]["tools"]["items"]["enum"]
    assert set(schema["paths"]) == {"/v1/executions", "/v1/executions/stream", "/v1/tools", "/healthz", "/metrics"}
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    ("method", "url"), [("GET", "/v1/executions"), ("DELETE", "/v1/tools"), ("GET", "/v2/executions")], ids=str
)
def test_wrong_routes_are_json_errors(send: Send, auth: Auth, method: str, url: str) -> None:
    response = send(method, url, headers=auth("alice"))
    assert response.status_code in (404, 405)
    assert "detail" in response.json()
