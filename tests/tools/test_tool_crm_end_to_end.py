"""The issue's scenario end to end: one run tags all 200 active CRM records.

Judged by effect on the CRM (``crm.tagged``), by the call counters, and by
the call log, in every style a script may use: plain blocking calls,
``asyncio.gather`` with top-level await, both mixed, task lists,
``create_task``, ``wait_for``, ``async def`` helpers and ``asyncio.run``.
"""

from __future__ import annotations

import gc
import sqlite3

import pytest

from host_functions import ExampleCRM
from runtime import Sandbox

ACTIVE = set(range(1, 201))  # ExampleCRM(active=200) numbers its active records first

ISSUE_SCRIPT = """\
cands = list_candidates(status="active", page_size=200)
for c in cands:
    tag_candidate(c["id"], "reviewed")
print(f"handled {len(cands)}")
"""

LIST = 'cands = list_candidates(status="active", page_size=200)\n'


def _script(style: str, body: str) -> str:
    """The style's body after the listing (unless it lists for itself), tagging with TAG = style."""
    return f"import asyncio\nTAG = {style!r}\n" + ("" if "list_candidates" in body else LIST) + body


STYLES = {
    "gather-top-level-await": 'await asyncio.gather(*[tag_candidate(c["id"], TAG) for c in cands])\n',
    "mixed-sync-and-gather": (
        'for c in cands[:100]:\n    tag_candidate(c["id"], TAG)\n'
        'await asyncio.gather(*[tag_candidate(c["id"], TAG) for c in cands[100:]])\n'
    ),
    "task-list-variable": 'tasks = [tag_candidate(c["id"], TAG) for c in cands]\nawait asyncio.gather(*tasks)\n',
    "task-list-append": (
        'tasks = []\nfor c in cands:\n    tasks.append(tag_candidate(c["id"], TAG))\nawait asyncio.gather(*tasks)\n'
    ),
    "wait-for": 'for c in cands:\n    await asyncio.wait_for(tag_candidate(c["id"], TAG), 5)\n',
    "async-def-helper": (
        'async def one(c):\n    return await tag_candidate(c["id"], TAG)\n'
        "await asyncio.gather(*[one(c) for c in cands])\n"
    ),
    "create-task-of-helper": (
        'async def one(c):\n    await tag_candidate(c["id"], TAG)\n'
        "ts = [asyncio.create_task(one(c)) for c in cands]\nawait asyncio.gather(*ts)\n"
    ),
    "asyncio-run-main": (
        'async def main():\n    await asyncio.gather(*[tag_candidate(c["id"], TAG) for c in cands])\n'
        "asyncio.run(main())\n"
    ),
    "ensure-future-and-wait": (
        'fs = [asyncio.ensure_future(tag_candidate(c["id"], TAG)) for c in cands]\nawait asyncio.wait(fs)\n'
    ),
    "as-completed": 'for f in asyncio.as_completed([tag_candidate(c["id"], TAG) for c in cands]):\n    await f\n',
    "namespaced": (
        'cands = crm.list_candidates(status="active", page_size=200)\n'
        'await asyncio.gather(*[tools.crm.tag_candidate(c["id"], TAG) for c in cands])\n'
    ),
}

# A tool call handed straight to create_task: asyncio wants a coroutine, the
# rewrite hands it a Future (see the report: a runtime bug, not fixed here).
CREATE_TASK_STYLES = {
    "create-task-of-tool": (
        'ts = [asyncio.create_task(tag_candidate(c["id"], TAG)) for c in cands]\nfor t in ts:\n    await t\n'
    ),
    "taskgroup-create-task": (
        "async with asyncio.TaskGroup() as tg:\n"
        '    for c in cands:\n        tg.create_task(tag_candidate(c["id"], TAG))\n'
    ),
}


def _delta(crm: ExampleCRM, before: dict[str, int]) -> dict[str, int]:
    return {name: crm.calls[name] - count for name, count in before.items()}


def _assert_all_tagged(crm: ExampleCRM, sb: Sandbox, code: str, tag: str) -> None:
    before = dict(crm.calls)
    r = sb.run(code)
    assert r.error is None, r.error
    assert crm.tagged(tag) == ACTIVE
    assert len(r.tool_calls) == 201
    assert {call.outcome for call in r.tool_calls} == {"ok"}
    assert [call.id for call in r.tool_calls] == list(range(1, 202))
    assert r.tool_calls[0].tool.endswith("list_candidates")
    assert {call.tool.rsplit(".", 1)[-1] for call in r.tool_calls[1:]} == {"tag_candidate"}
    assert _delta(crm, before) == {"list_candidates": 1, "get_candidate": 0, "tag_candidate": 200}


def test_issue_script_tags_every_active_record_in_one_run(crm: ExampleCRM, crm_sandbox: Sandbox) -> None:
    _assert_all_tagged(crm, crm_sandbox, ISSUE_SCRIPT, "reviewed")
    assert crm_sandbox.run("1").tool_calls == ()  # the log is per run


def test_issue_script_prints_handled_200(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run(ISSUE_SCRIPT)
    assert (r.error, r.stdout) == (None, "handled 200\n")


@pytest.mark.parametrize("style", list(STYLES), ids=list(STYLES))
def test_async_styles_tag_every_active_record(crm: ExampleCRM, crm_sandbox: Sandbox, style: str) -> None:
    _assert_all_tagged(crm, crm_sandbox, _script(style, STYLES[style]), style)


@pytest.mark.parametrize("style", list(CREATE_TASK_STYLES), ids=list(CREATE_TASK_STYLES))
def test_create_task_of_a_tool_call(crm: ExampleCRM, crm_sandbox: Sandbox, style: str) -> None:
    _assert_all_tagged(crm, crm_sandbox, _script(style, CREATE_TASK_STYLES[style]), style)


def test_gathered_results_come_back_in_order(crm_sandbox: Sandbox) -> None:
    r = crm_sandbox.run("import asyncio\nawait asyncio.gather(*[get_candidate(i) for i in (5, 1, 3)])")
    assert r.error is None, r.error
    assert [c["id"] for c in r.value] == [5, 1, 3]
    assert all(c["status"] == "active" and isinstance(c["tags"], list) for c in r.value)


def test_gather_return_exceptions_mixes_results_and_tool_errors(crm_sandbox: Sandbox) -> None:
    code = (
        "import asyncio\n"
        "rs = await asyncio.gather(get_candidate(1), get_candidate(99999), return_exceptions=True)\n"
        "[type(x).__name__ for x in rs], isinstance(rs[1], ToolError), rs[1].tool"
    )
    r = crm_sandbox.run(code)
    assert r.error is None, r.error
    assert r.value == [["dict", "ToolError"], True, "get_candidate"]
    assert [c.outcome for c in r.tool_calls] == ["ok", "error"]


def test_sync_and_async_calls_of_the_same_tool_agree(crm_sandbox: Sandbox) -> None:
    code = "import asyncio\na = get_candidate(7)\nb = await get_candidate(7)\nc = crm.get_candidate(7)\na == b == c"
    r = crm_sandbox.run(code)
    assert (r.error, r.value) == (None, True)


@pytest.mark.parametrize("how", ["close", "with", "garbage-collected"])
def test_the_crm_closes_its_database(how: str) -> None:
    # Python 3.13 warns (an error under this suite's filterwarnings) about a connection left open.
    crm = ExampleCRM(active=2, others=0)
    db = crm._db
    if how == "close":
        crm.close()
        crm.close()  # twice is fine
    elif how == "with":
        with crm:
            assert crm.get_candidate(1).id == 1
    else:
        del crm
        gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")
