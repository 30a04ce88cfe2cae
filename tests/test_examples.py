"""Every example in examples/ runs offline and does what it says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AGENTS = sorted(path.name for path in EXAMPLES.glob("*_agent.py"))


def _run(name: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_there_is_an_agent_example_per_provider() -> None:
    from runtime.llm.providers import PROVIDERS

    assert sorted(f"{name}_agent.py" for name in PROVIDERS) == AGENTS


@pytest.mark.parametrize("name", AGENTS)
def test_an_agent_example_finds_the_tools_and_tags_everyone_in_one_code_action(name: str) -> None:
    lines = _run(name).splitlines()
    assert lines == [
        '-> tool_search({"query": "list and tag candidates", "k": 3}...)',
        '-> execute_code({"code": "cands = crm.list_candidates(status=\\"active\\", pag...)',
        "Done: tagged 200 candidates.",
        "[host] 200 candidates tagged, in 3 model calls",
    ]


def test_the_mcp_example_plays_a_session() -> None:
    out = _run("mcp_server.py")
    assert "tools/list -> ['execute_code', 'batch', 'crm.list_candidates'" in out
    assert 'value: \\"200 active\\"' in out


def test_the_mcp_example_serves_json_rpc_on_stdio() -> None:
    messages = [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "crm.tag_candidate",
                                                                       "arguments": {"candidate_id": 1, "tag": ""}}},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
    ]  # fmt: skip
    replies = [json.loads(line) for line in _run("mcp_server.py", "--stdio", stdin="".join(
        json.dumps(m) + "\n" for m in messages)).splitlines()]  # fmt: skip
    assert [reply["id"] for reply in replies] == [1, 2]
    assert replies[0]["result"]["isError"] is True
    assert replies[1]["error"]["code"] == -32601
