"""The code-action meta-tool: the model sends a script, only its output comes back.

The description is generated from the granted tools as Python stubs, so the
model knows exactly what it can call and what comes back, and it teaches
both calling styles (plain calls block; ``await`` with ``asyncio.gather``
runs calls concurrently).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._spec import ToolSpec
from ._stubs import python_stubs

if TYPE_CHECKING:
    from host_functions import Tool
    from runtime._limits import Limits

__all__ = ["CodeRequestError", "code_action_spec", "parse_code"]


class CodeRequestError(ValueError):
    """The model's code-action request is malformed; ``str()`` says how to fix it."""


def code_action_spec(
    name: str, tools: Sequence[Tool], *, limits: Limits, budget: int, search_tool: str | None
) -> ToolSpec:
    """The code-action tool's spec: what the sandbox offers, the tools as
    stubs, and how results come back. ``search_tool`` names the tool-search
    tool when more tools can be found with it."""
    lines = [
        "Run a Python 3 script in a fresh, isolated sandbox (CPython compiled to WebAssembly: the standard "
        "library, no files, network, subprocesses or pip packages). Use it for work that takes many tool "
        "calls, depends on earlier results, or needs filtering, joining or counting: one script instead of "
        "many turns.",
        "",
        f"Only what the script prints and the value of its last expression come back to you, at most {budget} "
        "characters (anything longer is cut, with a marker), so aggregate in the script and print a short "
        f"summary, not raw data. The run stops after {limits.timeout:g} s and {limits.max_tool_calls} tool calls.",
    ]
    if tools or search_tool:
        lines += [
            "",
            "Tools are ordinary Python functions returning JSON values (dicts, lists, str, int, ...). "
            "A plain call blocks until its result. For many independent calls, run them concurrently with "
            "top-level await: `results = await asyncio.gather(*(f(x) for x in xs))`. A failed call raises "
            "ToolError (catch it to carry on); wrong arguments raise ToolArgumentError.",
        ]
    if tools:
        lines += ["", "Available tools:", "```python", python_stubs(tools), "```"]
    if search_tool:
        lines += [
            "",
            f"More tools exist: find them with {search_tool}; every tool it returns can be called here too, "
            "by the name it shows.",
        ]
    parameters = {
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "The Python script. End with an expression to return its value.",
            }
        },
        "required": ["code"],
    }
    return ToolSpec(name=name, description="\n".join(lines), parameters=parameters)


def parse_code(arguments: str) -> str:
    """The script in a code-action request. Raises ``CodeRequestError``."""
    try:
        request = json.loads(arguments)
    except (ValueError, RecursionError):
        request = None
    code = request.get("code") if isinstance(request, dict) else None
    if not isinstance(code, str):
        raise CodeRequestError('expected {"code": "<python script>"}: the script as one JSON string')
    if not code.strip():
        raise CodeRequestError("the script is empty: send the Python code to run")
    return code
