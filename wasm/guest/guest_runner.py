"""Runs one script inside the guest and describes what happened as JSON.

Nothing here is trusted by the host: guest code can replace any of it. It
exists to give well-behaved scripts REPL semantics (the final expression is
the value), readable tracebacks and cheap output capture. Every limit that
matters is enforced on the host.
"""

import ast
import builtins
import json
import linecache
import sys
import time
import traceback

from wit_world.imports import host

FILENAME = "<script>"
_FLUSH_AT = 64 * 1024
_MAX_TRACEBACK = 16 * 1024
_MAX_REPR = 64 * 1024
_MAX_JSON_DEPTH = 100

_session_namespace: dict = {}


def _host_sleep(seconds: float) -> None:
    """`time.sleep` replacement: the host sleeps, and never past the deadline."""
    seconds = float(seconds)
    if seconds != seconds or seconds < 0:  # NaN or negative, like CPython
        raise ValueError("sleep length must be non-negative")
    host.sleep(seconds)


time.sleep = _host_sleep


class _OutputLimitReached(OSError):
    pass


class _HostStream:
    """A text stream that buffers in guest memory and hands chunks to the host."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._parts: list[str] = []
        self._size = 0
        self.closed = False
        self.encoding = "utf-8"
        self.errors = "strict"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _FLUSH_AT:
            self.flush()
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            if not host.emit(self.name, text):
                raise _OutputLimitReached(f"{self.name}: output limit reached, the rest is dropped")

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        return text

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _fresh_namespace() -> dict:
    return {"__name__": "__main__", "__builtins__": builtins}


def _compile(code: str):
    """Split the script into a body and, REPL-style, a final expression."""
    tree = ast.parse(code, FILENAME, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, FILENAME, "exec")
    return body, (compile(last, FILENAME, "eval") if last is not None else None)


def _json_safe(value, depth: int = 0) -> bool:
    """True when `value` survives a JSON round trip unchanged (lists for tuples aside)."""
    if value is None or value is True or value is False or type(value) in (int, str):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if depth >= _MAX_JSON_DEPTH:
        return False
    if type(value) in (list, tuple):
        return all(_json_safe(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _json_safe(v, depth + 1) for k, v in value.items())
    return False


def _encode_value(value) -> tuple[str, str]:
    """(kind, JSON text) for the final value: JSON when it is JSON, else its repr."""
    if value is None:
        return "none", "null"
    if _json_safe(value):
        try:
            return "json", json.dumps(value, ensure_ascii=False)
        except (ValueError, RecursionError):  # e.g. int too large to print
            pass
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not sink the run
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR] + f"... [repr truncated, {len(text)} characters]"
    return "repr", json.dumps(text, ensure_ascii=False)


def _describe(exc: BaseException) -> dict:
    """A structured, JSON-ready description of an exception raised by the script."""
    if isinstance(exc, MemoryError):
        # Allocation is what failed: build the smallest possible description.
        return {"type": "MemoryError", "message": "out of memory", "traceback": None, "line": None}
    kind = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:
        message = "<unprintable message>"
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        return {
            "type": kind,
            "message": exc.msg or message,
            "traceback": "".join(traceback.format_exception_only(exc))[:_MAX_TRACEBACK],
            "line": exc.lineno,
            "column": exc.offset,
        }
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
        tb = tb.tb_next  # drop the runner's own frames: the user sees only theirs
    line = None
    walk = tb
    while walk is not None:
        if walk.tb_frame.f_code.co_filename == FILENAME:
            line = walk.tb_lineno
        walk = walk.tb_next
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb, limit=-50))
    except BaseException:
        text = f"{kind}: {message}\n"
    if len(text) > _MAX_TRACEBACK:
        text = text[: _MAX_TRACEBACK // 4] + "\n[... traceback truncated ...]\n" + text[-_MAX_TRACEBACK // 2 :]
    return {"type": kind, "message": message[:_MAX_TRACEBACK], "traceback": text, "line": line}


def _envelope(stdout: str, stderr: str, kind: str, value_json: str, error) -> str:
    head = json.dumps({"stdout": stdout, "stderr": stderr, "error": error}, ensure_ascii=False)
    return head[:-1] + ', "value_kind": "' + kind + '", "value": ' + value_json + "}"


def run(code: str, options_json: str) -> str:
    options = json.loads(options_json)
    out, err = _HostStream("stdout"), _HostStream("stderr")
    sys.stdout, sys.stderr = out, err
    sys.setrecursionlimit(int(options.get("recursion_limit", 1000)))
    if options.get("fresh", True):
        namespace = _fresh_namespace()
    else:
        namespace = _session_namespace
        if not namespace:
            namespace.update(_fresh_namespace())
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    kind, value_json, error = "none", "null", None
    try:
        body, last = _compile(code)
        exec(body, namespace)
        if last is not None:
            value = eval(last, namespace)
            namespace["_"] = value
            kind, value_json = _encode_value(value)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = {"type": "SystemExit", "message": str(exc.code), "traceback": None, "line": None}
    except BaseException as exc:
        error = _describe(exc)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    return _envelope(out.take(), err.take(), kind, value_json, error)
