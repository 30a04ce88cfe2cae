"""HTTP tool backends: called with the caller's own token, which the guest never sees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_harness import HTTP_TOOLS, Auth, Backend, Send

from host_functions import ToolArgumentError, ToolSet
from runtime import Sandbox
from runtime.server import BackgroundServer, ConfigError, HttpTool, ServerConfig
from runtime.server._http_tools import HttpToolClient

GRANT = [tool.name for tool in HTTP_TOOLS]


def catching(call: str, error: str = "ToolError") -> str:
    """A script whose value is the message of the ``error`` that ``call`` raises (or its result)."""
    return f"try:\n    message = {call}\nexcept {error} as exc:\n    message = str(exc)\nmessage"


def run(send: Send, auth: Auth, code: str, caller: str = "alice") -> dict[str, Any]:
    response = send("POST", "/v1/executions", json={"code": code, "tools": GRANT}, headers=auth(caller))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("caller", ["alice", "bob"])
def test_backend_is_called_with_the_callers_own_token(
    send: Send, auth: Auth, backend: Backend, tokens: dict[str, str], caller: str
) -> None:
    before = len(backend.seen)
    body = run(send, auth, "users.get('u1')", caller)

    assert body["value"] == {"id": "u1", "query": {}}
    (seen,) = backend.seen[before:]
    assert seen.authorization == f"Bearer {tokens[caller]}"
    assert (seen.method, seen.raw_path) == ("GET", "/users/u1")


@pytest.mark.parametrize(
    "value",
    ["a/b", "../../admin", "x?admin=1", "x#frag", "100%", "ünï code", "a/../../b"],
    ids=["slash", "dotdot-path", "query", "fragment", "percent", "unicode", "mixed"],
)
def test_path_parameters_stay_in_their_segment(send: Send, auth: Auth, backend: Backend, value: str) -> None:
    before = len(backend.seen)
    body = run(send, auth, f"users.get({value!r})")

    (seen,) = backend.seen[before:]
    assert seen.raw_path == "/users/" + quote(value, safe="")
    assert seen.query == {}
    assert body["value"]["id"] == quote(value, safe="")


@pytest.mark.parametrize("value", [".", "..", ""], ids=["dot", "dotdot", "empty"])
def test_dot_segments_are_refused(send: Send, auth: Auth, backend: Backend, value: str) -> None:
    before = len(backend.seen)
    body = run(send, auth, catching(f"users.get({value!r})"))

    assert "not a valid path segment" in body["value"]
    assert backend.seen[before:] == []


def test_query_string_and_json_body(send: Send, auth: Auth, backend: Backend) -> None:
    before = len(backend.seen)
    code = "[users.get('u2', fields=['a', 'b'], verbose=True), orders.create(item='pen', quantity=3)]"
    body = run(send, auth, code)

    got, created = body["value"]
    get, post = backend.seen[before:]
    assert get.query == {"fields": ["a", "b"], "verbose": ["true"]}
    assert (post.method, post.raw_path, post.body) == ("POST", "/orders", {"item": "pen", "quantity": 3})
    assert created == {"created": {"item": "pen", "quantity": 3}}
    assert got["id"] == "u2"


def test_arguments_are_validated_before_the_backend_is_called(send: Send, auth: Auth, backend: Backend) -> None:
    before = len(backend.seen)
    body = run(send, auth, catching("orders.create(item='pen', quantity=0)", "ToolArgumentError"))

    assert "quantity" in body["value"]
    assert backend.seen[before:] == []


def test_error_status_is_a_tool_error_with_a_short_excerpt(send: Send, auth: Auth, tokens: dict[str, str]) -> None:
    message = run(send, auth, catching("backend.forbidden()"))["value"]

    assert "403" in message and "denied: Bearer [redacted]" in message
    assert tokens["alice"] not in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("call", "expected"),
    [("backend.slow()", "did not answer within 0.2 s"), ("backend.text()", "not JSON")],
    ids=["timeout", "not-json"],
)
def test_backend_failures_are_tool_errors(send: Send, auth: Auth, call: str, expected: str) -> None:
    assert expected in run(send, auth, catching(call))["value"]


def test_a_backend_echoing_the_token_is_redacted(send: Send, auth: Auth, tokens: dict[str, str]) -> None:
    body = run(send, auth, "backend.echo_auth()")

    assert body["value"]["auth"] == "Bearer [redacted]"
    assert body["value"]["headers"]["authorization"] == "Bearer [redacted]"
    assert tokens["alice"] not in json.dumps(body)


# Everything a script can look at, printed; then (in the non-streaming run) a
# scan of every string reachable in the guest's heap for the token, by hash:
# the script is given the token's sha256, never the token. A canary built at
# run time proves the scan reaches run-time strings.
DUMP = r"""
import builtins, contextlib, io, json, os, sys
dumps = [sorted(globals()), {k: repr(v) for k, v in globals().items()}, sorted(dir(builtins)), sorted(sys.modules)]
dumps.append(dict(os.environ))
dumps.append([sorted(dir(tools)), sorted(dir(users)), sorted(dir(backend))])
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    for fn in (users.get, orders.create, backend.echo_auth, backend.forbidden, backend.slow, backend.text):
        help(fn)
        print(repr(fn), fn.__doc__, vars(fn) if hasattr(fn, "__dict__") else None)
dumps.append(buf.getvalue())
dumps.append(users.get("u1"))
dumps.append(backend.echo_auth())
try:
    backend.forbidden()
except ToolError as exc:
    dumps.append([str(exc), repr(exc), vars(exc)])
print(json.dumps(dumps, default=repr))
print("to stderr too", dumps[-1], file=sys.stderr)
"""

SCAN = r"""
import gc, hashlib, re
TARGETS = {TARGETS!r}
RUN = re.compile(r"[A-Za-z0-9\-._~+/]{{{N},}}")
canary = "{CANARY_HALF}" + "{CANARY_HALF}"
texts, seen, found = set(), set(), set()
todo = [sys.modules, globals(), *gc.get_objects()]
while todo:
    obj = todo.pop()
    if id(obj) in seen:
        continue
    seen.add(id(obj))
    if isinstance(obj, str):
        texts.add(obj)
    elif isinstance(obj, (bytes, bytearray)):
        texts.add(bytes(obj).decode("latin-1"))
    elif not isinstance(obj, (int, float, complex, bool, type(None))):
        todo.extend(gc.get_referents(obj))
for text in texts:
    for run in RUN.findall(text):
        for i in range(len(run) - {N} + 1):
            digest = hashlib.sha256(run[i : i + {N}].encode()).hexdigest()
            if digest in TARGETS:
                found.add(TARGETS[digest])
{{"found": sorted(found), "strings": len(texts)}}
"""


def _scan_script(token: str) -> str:
    half = "Q" * (len(token) // 2)
    targets = {
        hashlib.sha256(token.encode()).hexdigest(): "token",
        hashlib.sha256((half * 2).encode()).hexdigest(): "canary",
    }
    return SCAN.format(TARGETS=targets, N=len(token), CANARY_HALF=half)


def test_the_token_never_reaches_the_guest(
    live: BackgroundServer, live_config: ServerConfig, auth: Auth, tokens: dict[str, str], backend: Backend
) -> None:
    token = tokens["carol"]
    before = len(backend.seen)
    code = DUMP + _scan_script(token)
    with httpx.Client(base_url=live.url, timeout=30) as client:
        plain = client.post("/v1/executions", json={"code": code, "tools": GRANT}, headers=auth("carol"))
        with client.stream(
            "POST", "/v1/executions/stream", json={"code": DUMP, "tools": GRANT}, headers=auth("carol")
        ) as streamed:
            stream_bytes = b"".join(streamed.iter_raw())
        metrics = client.get("/metrics").content

    body = plain.json()
    assert body["error"] is None, body["error"]
    assert body["value"]["found"] == ["canary"]  # the scan works, and found no token
    assert body["value"]["strings"] > 10_000
    assert "users.get(user_id: str" in body["stdout"]  # help() was dumped
    assert b"event: result" in stream_bytes
    # The token was in use on the host meanwhile:
    assert {seen.authorization for seen in backend.seen[before:]} == {f"Bearer {token}"}
    everything = [plain.content, str(plain.headers).encode(), stream_bytes, str(streamed.headers).encode(), metrics]
    for blob in everything:
        assert token.encode() not in blob
    assert live_config.audit_log is not None
    assert token not in Path(live_config.audit_log).read_text()


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"url": "https://{host}.example.com/x"}, "only appear in the URL's path"),
        ({"url": "https://api.example.com/x?id={id}"}, "only appear in the URL's path"),
        ({"url": "https://api.example.com/users/{user_id}"}, "must be a required parameter"),
        ({"url": "https://api.example.com/u/{x!r}"}, "plain parameter name"),
        (
            {
                "url": "https://api.example.com/u/{x}",
                "parameters": {"type": "object", "properties": {"x": {"type": "array"}}, "required": ["x"]},
            },
            "string, an integer or an enum",
        ),
        ({"url": "ftp://api.example.com/x"}, "http"),
        ({"method": "TRACE"}, "method"),
        ({"timeout": 0}, "timeout"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "string", "format": "uri"}}}}, "format"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "tuple"}}}}, "unsupported type"),
        ({"parameters": {"type": "object", "properties": {"class": {"type": "string"}}}}, "class"),
        ({"parameters": {"type": "object", "properties": {"_x": {"type": "string"}}}}, "identifier"),
        ({"parameters": {"type": "array"}}, "JSON Schema object"),
        ({"parameters": {"type": "object", "properties": {}, "required": ["x"]}}, "required"),
        ({"name": "print"}, "invalid"),
    ],
    ids=[
        "host-placeholder",
        "query-placeholder",
        "optional-placeholder",
        "conversion",
        "array-placeholder",
        "scheme",
        "method",
        "timeout",
        "unsupported-keyword",
        "unsupported-type",
        "keyword-name",
        "private-name",
        "not-object",
        "required-unknown",
        "builtin-name",
    ],
)
def test_invalid_http_tools_are_config_errors(fields: dict[str, Any], complaint: str) -> None:
    spec: dict[str, Any] = {"name": "t.x", "description": "x", "method": "GET", "url": "https://api.example.com/x"}
    spec.update(fields)
    with pytest.raises(ConfigError, match=complaint):
        HttpTool(**spec).to_tool(HttpToolClient())


def test_http_tool_needs_a_caller_identity(backend: Backend) -> None:
    client = HttpToolClient(backend.transport)
    client.open()
    tool = HTTP_TOOLS[0].to_tool(client)
    with Sandbox(tools=ToolSet([tool]), pool_size=0) as sb:
        result = sb.run(catching("users.get('u1')"))
    assert result.value == "users.get: no caller identity for this run"


def test_http_tool_schema_is_what_is_validated(send: Send, auth: Auth) -> None:
    listed = send("GET", "/v1/tools", params={"q": "create an order"}, headers=auth("alice")).json()["tools"]
    orders = next(tool for tool in listed if tool["name"] == "orders.create")
    assert orders["parameters"]["properties"]["quantity"] == {"type": "integer", "minimum": 1}
    assert orders["parameters"]["required"] == ["item", "quantity"]
    assert orders["description"] == "Create an order."


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_never_reach_a_backend(raw: str) -> None:
    spec = HttpTool(
        name="t.n",
        description="x",
        method="POST",
        url="https://api.example.com/n",
        parameters={"type": "object", "properties": {"v": {"type": "number"}}, "required": ["v"]},
    )
    tool = spec.to_tool(HttpToolClient())
    assert tool.bind('{"v": 1.5}') == ([], {"v": 1.5})
    with pytest.raises(ToolArgumentError, match="finite"):
        tool.bind(f'{{"v": {raw}}}')
