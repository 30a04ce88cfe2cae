"""The audit log: one JSON line per execution and per tool call, never a token."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from server_harness import AsgiHarness, Auth

from runtime import ToolCall, ToolOutcome
from runtime.server._audit import AuditLog, code_hash

TOOL_CODE = "[echo('a'), whoami()]"
TIMEOUT_CODE = "while True: pass"


@dataclass
class Scenario:
    responses: dict[str, httpx.Response]
    lines: list[dict[str, Any]]
    text: str


@pytest.fixture(scope="module")
def scenario(make_app: Callable[..., FastAPI], tmp_path_factory: pytest.TempPathFactory, auth: Auth) -> Scenario:
    """A fresh app with its own audit file; a few requests; the file once the app has shut down."""
    path = tmp_path_factory.mktemp("audit-scenario") / "audit.jsonl"
    harness = AsgiHarness(make_app(audit_log=path))
    try:
        post = harness.request
        responses = {
            "tools": post(
                "POST", "/v1/executions", json={"code": TOOL_CODE, "tools": ["echo", "whoami"]}, headers=auth("alice")
            ),
            "timeout": post(
                "POST", "/v1/executions", json={"code": TIMEOUT_CODE, "limits": {"timeout": 0.2}}, headers=auth("bob")
            ),
            "rejected": post("POST", "/v1/executions", json={"code": "1", "tools": ["nope"]}, headers=auth("carol")),
            "anonymous": post("POST", "/v1/executions", json={"code": "1"}),
            "stream": post("POST", "/v1/executions/stream", json={"code": "print(1)"}, headers=auth("dave")),
        }
    finally:
        harness.close()  # writes what is queued and closes the file
    text = path.read_text()
    return Scenario(responses, [json.loads(line) for line in text.splitlines()], text)


def _executions(scenario: Scenario) -> dict[str, dict[str, Any]]:
    return {line["identity"]: line for line in scenario.lines if line["event"] == "execution"}


def test_one_line_per_execution_and_tool_call(scenario: Scenario) -> None:
    events = [(line["event"], line["identity"]) for line in scenario.lines]
    assert sorted(events) == sorted(
        [
            ("execution", "alice"),
            ("tool_call", "alice"),
            ("tool_call", "alice"),
            ("execution", "bob"),
            ("execution", "carol"),
            ("execution", "dave"),
        ]
    )


def test_execution_lines(scenario: Scenario) -> None:
    lines = _executions(scenario)
    alice = lines["alice"]
    response = scenario.responses["tools"]

    assert alice["execution"] == response.headers["x-execution-id"]
    assert alice["code_sha256"] == hashlib.sha256(TOOL_CODE.encode()).hexdigest()
    assert (alice["code_bytes"], alice["tools"], alice["outcome"], alice["error"]) == (
        len(TOOL_CODE),
        ["echo", "whoami"],
        "ok",
        None,
    )
    assert (alice["tool_calls"], alice["result_bytes"], alice["stream"]) == (2, len(response.content), False)
    assert 0 < alice["duration"] < 5
    assert alice["time"].endswith("+00:00")
    assert (lines["bob"]["outcome"], lines["bob"]["limit"]) == ("TimeoutExceeded", "timeout")
    assert (lines["carol"]["outcome"], lines["carol"]["error"]) == ("rejected", "invalid")
    assert (lines["dave"]["outcome"], lines["dave"]["stream"]) == ("ok", True)


def test_tool_call_lines(scenario: Scenario) -> None:
    calls = [line for line in scenario.lines if line["event"] == "tool_call"]
    execution = _executions(scenario)["alice"]

    assert [(c["tool"], c["call"], c["outcome"]) for c in calls] == [("echo", 1, "ok"), ("whoami", 2, "ok")]
    for call in calls:
        assert call["execution"] == execution["execution"]
        assert call["code_sha256"] == execution["code_sha256"]
        assert call["arguments_bytes"] > 0 and call["result_bytes"] > 0
        assert call["duration"] >= 0


def test_no_token_in_the_audit_log(scenario: Scenario, tokens: dict[str, str]) -> None:
    assert scenario.lines
    for token in tokens.values():
        assert token not in scenario.text


def _call(tool: str, outcome: ToolOutcome) -> ToolCall:
    sizes = {"arguments_bytes": 1, "result_bytes": 1}
    return ToolCall(id=1, tool=tool, outcome=outcome, started=0, duration=0, waited=0, **sizes)


def test_audit_file_rotates(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=2000, backups=2)
    call = _call("t", "ok")
    for _ in range(10):
        log.tool_calls(execution="e" * 32, identity="alice", code="1", calls=[call] * 5, at=0.0)
    log.close()

    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(path.stat().st_size <= 2000 for path in tmp_path.iterdir())
    assert json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])["tool"] == "t"


def test_hostile_tool_names_stay_one_bounded_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    name = 'x\n{"event": "forged"}\r' + "y" * 10_000
    call = _call(name, "rejected")
    log.tool_calls(execution="e", identity="alice", code="1", calls=[call], at=0.0)
    log.close()

    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["tool"] == name[:200]


def test_code_hash_of_any_text() -> None:
    assert code_hash("print(1)") == hashlib.sha256(b"print(1)").hexdigest()
    assert len(code_hash("\ud800")) == 64  # a lone surrogate in a rejected request still hashes
