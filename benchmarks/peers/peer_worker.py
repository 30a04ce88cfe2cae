"""REPL semantics shared by the ``native`` and ``subprocess`` peers, and the subprocess peer's worker.

``compile_repl`` and ``run_repl`` give a script the semantics otc-runtime's
guest gives it: the value of a final expression is the run's value, and
top-level ``await`` works (the script then runs on a new event loop).

Run as a script (``python -I -S peer_worker.py [--once]``) this is a worker
process. Once started it writes ``{"ready": true}``; then it reads one JSON
request per line on stdin,
``{"code": ..., "tools": {"<name>": "sync" | "async"}}``, runs the code in
globals kept across requests and answers one line,
``{"stdout": ..., "value": ..., "error": null | "<type>: <message>"}``. While
the code runs, each tool call is a line ``{"call": name, "id": n, "args": [...]}``
to which the host answers ``{"id": n, "ok": value}`` or ``{"id": n, "error": msg}``
(async calls may be answered in any order). ``--once`` exits after one request.
Standard library only: nothing else is importable in the worker.
"""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import json
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any, TextIO

__all__ = ["compile_repl", "run_repl"]

_VALUE = "__repl_value__"
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect in the worker


def compile_repl(source: str) -> CodeType:
    """``source`` compiled so that running it stores the final expression's value (top-level await allowed)."""
    tree = ast.parse(source, "<script>", "exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        assign = ast.Assign(targets=[ast.Name(_VALUE, ast.Store())], value=last.value)
        tree.body[-1] = ast.copy_location(assign, last)
        ast.fix_missing_locations(tree)
    code: CodeType = compile(tree, "<script>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return code


def run_repl(code: CodeType, namespace: dict[str, Any]) -> Any:
    """Run ``code`` (from ``compile_repl``) in ``namespace``; the final expression's value, or None."""
    namespace.pop(_VALUE, None)
    if code.co_flags & _CO_COROUTINE:
        import asyncio

        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)
    return namespace.pop(_VALUE, None)


class _Channel:
    def __init__(self, reader: TextIO, writer: TextIO) -> None:
        self.reader, self.writer = reader, writer

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(json.dumps(message) + "\n")
        self.writer.flush()

    def receive(self) -> dict[str, Any]:
        line = self.reader.readline()
        if not line:
            raise SystemExit(0)  # the host closed the pipe
        message: dict[str, Any] = json.loads(line)
        return message


def _answer(reply: dict[str, Any]) -> Any:
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["ok"]


def _stubs(channel: _Channel, tools: dict[str, str]) -> dict[str, Callable[..., Any]]:
    """One function per tool: a sync one blocks on the host's answer; an async one awaits it."""
    ids = itertools.count()
    pending: dict[int, Any] = {}
    pumping: list[Any] = []  # the running pump task, if any (a reference keeps it alive)

    async def pump() -> None:
        # Reads answers only while calls are pending, so it never reads the next request.
        import asyncio

        loop = asyncio.get_running_loop()
        while pending:
            reply = await loop.run_in_executor(None, channel.receive)
            future = pending.pop(reply["id"])
            try:
                future.set_result(_answer(reply))
            except RuntimeError as exc:
                future.set_exception(exc)
        pumping.clear()

    def sync_stub(name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            channel.send({"call": name, "id": next(ids), "args": list(args)})
            return _answer(channel.receive())

        return call

    def async_stub(name: str) -> Callable[..., Any]:
        async def call(*args: Any) -> Any:
            import asyncio

            loop = asyncio.get_running_loop()
            number = next(ids)
            pending[number] = future = loop.create_future()
            channel.send({"call": name, "id": number, "args": list(args)})
            if not pumping:
                pumping.append(loop.create_task(pump()))
            return await future

        return call

    return {name: async_stub(name) if kind == "async" else sync_stub(name) for name, kind in tools.items()}


def _serve(once: bool) -> None:
    channel = _Channel(sys.stdin, sys.stdout)
    channel.send({"ready": True})
    namespace: dict[str, Any] = {"__name__": "__main__"}
    while True:
        request = channel.receive()
        namespace.update(_stubs(channel, request.get("tools", {})))
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                value = run_repl(compile_repl(request["code"]), namespace)
            reply = {"stdout": out.getvalue(), "value": value, "error": None}
        except Exception as exc:
            reply = {"stdout": out.getvalue(), "value": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            channel.send(reply)
        except TypeError:
            channel.send({**reply, "value": repr(reply["value"])})
        if once:
            return


if __name__ == "__main__":
    _serve(once="--once" in sys.argv[1:])
