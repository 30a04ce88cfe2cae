"""Runs one script inside the guest and describes what happened as JSON.

Nothing here is trusted by the host: guest code can replace any of it. It
exists to give well-behaved scripts REPL semantics (the final expression is
the value), readable tracebacks and cheap output capture. Every limit that
matters is enforced on the host.
"""

import asyncio
import builtins
import inspect
import linecache
import sys
import time
import traceback
from json.encoder import encode_basestring as _quote

import guest_compile
import guest_json
import guest_loop
import guest_tools
from wit_world.imports import host

FILENAME = guest_compile.FILENAME
_VALUE = guest_compile.VALUE
_CO_COROUTINE = inspect.CO_COROUTINE
_FLUSH_AT = 64 * 1024
_EAGER_FLUSHES = 100  # lines handed over at once before coalescing starts
_COALESCE = 0.005  # seconds between flushes of a heavy printer
_MAX_TRACEBACK = 16 * 1024
_MAX_REPR = 64 * 1024
_MAX_JSON_DEPTH = 100
_NO_CAP = 1 << 62  # options without max_output_bytes (the host always sends it)

_session_namespace: dict = {}
_streams: dict = {}  # stream class -> (stdout, stderr): made once, reused by every run
_DEFAULT_OPTIONS = (True, 1000, _NO_CAP, {})  # fresh, recursion limit, output cap, tool names
_options_cache: list = [_DEFAULT_OPTIONS]  # the last run's: what options "" stand for
_options_seen: dict = {}  # options JSON -> its settings, for the few a host alternates between
_OPTIONS_KEPT = 16
_TOOL_RUN_NAMES = {
    "__otc_submit__": guest_tools.submit_or_call,
    "__otc_submit_coroutine__": guest_tools.submit_as_coroutine,
    "ToolError": guest_tools.ToolError,
    "ToolArgumentError": guest_tools.ToolArgumentError,
    "ToolTimeoutError": guest_tools.ToolTimeoutError,
    # Tool scripts use asyncio.gather for concurrency; models forget the import.
    "asyncio": asyncio,
}
"""What a run granted tools gets besides them, built once: a run granted a subset parses its options anew."""
_MISSING = object()
_EMPTY_REPLY = '{"stdout": "", "stderr": "", "error": null, "value_kind": "none", "value": null}'


def _host_sleep(seconds: float) -> None:
    """`time.sleep` replacement: the host sleeps, and never past the deadline."""
    seconds = float(seconds)
    if seconds != seconds or seconds < 0:  # NaN or negative, like CPython
        raise ValueError("sleep length must be non-negative")
    host.sleep(seconds)


time.sleep = _host_sleep
_wall_clock = time.time  # WASI wall clock: no host round trip, unlike monotonic


class _OutputLimitReached(OSError):
    pass


class _HostStream:
    """A text stream that hands lines to the host as they are printed.

    Output reaches the host line by line, so a run the host kills (timeout,
    fuel) still reports what it printed. A heavy printer is coalesced: after
    the first lines, a flush happens at most every few milliseconds or 64 KiB.
    """

    # Class-level defaults: a new stream costs setting only two attributes.
    _size = 0
    _flushes = 0
    _last_flush = 0.0
    closed = False
    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str) -> None:
        self.name = name
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text.isascii():
            text.encode("utf-8")  # lone surrogates raise UnicodeEncodeError, as in CPython
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _FLUSH_AT or (
            "\n" in text and (self._flushes < _EAGER_FLUSHES or _wall_clock() - self._last_flush >= _COALESCE)
        ):
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
            self._flushes += 1
            if self._flushes >= _EAGER_FLUSHES:
                self._last_flush = _wall_clock()
            if not host.emit(self.name, text):
                raise _OutputLimitReached(f"{self.name}: output limit reached, the rest is dropped")

    def take(self) -> str:
        if not self._parts:
            return ""
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


def _settings(options_json: str) -> tuple:
    """The settings of a run's options, parsed once per distinct text: a host
    alternates between a few (a daemon's runs grant all, none or some of its tools)."""
    settings = _options_seen.get(options_json)
    if settings is None:
        options = guest_json.loads(options_json)
        settings = (
            bool(options.get("fresh", True)),
            int(options.get("recursion_limit", 1000)),
            int(options.get("max_output_bytes", _NO_CAP)),
            _tool_names(options),
        )
        if "tools" not in options:  # options with descriptions come once: not worth their memory
            if len(_options_seen) >= _OPTIONS_KEPT:
                del _options_seen[next(iter(_options_seen))]
            _options_seen[options_json] = settings
    return settings


def _tool_names(options: dict) -> dict:
    """Top-level names for the granted tools: built from their descriptions
    (``tools``), or, named only (``tool_names``), from those built before."""
    specs = options.get("tools")
    if specs:
        guest_tools.register(specs)
        granted = [spec["name"] for spec in specs]
    else:
        granted = options.get("tool_names")
        if not granted:
            return {}
    names = guest_tools.namespace(granted)
    names.update(_TOOL_RUN_NAMES)
    return names


def _valid_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates: not valid text outside Python
        return False


def _clean(text: str) -> str:
    return text if _valid_text(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_safe(value, depth: int = 0) -> bool:
    """True when `value` survives a JSON round trip unchanged (lists for tuples aside)."""
    if value is None or value is True or value is False or type(value) is int:
        return True
    if type(value) is str:
        return _valid_text(value)
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if depth >= _MAX_JSON_DEPTH:
        return False
    if type(value) in (list, tuple):
        return all(_json_safe(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _valid_text(k) and _json_safe(v, depth + 1) for k, v in value.items())
    return False


def _encode_value(value, cap: int) -> tuple[str, str]:
    """(kind, JSON text) for the final value: JSON when it is JSON, else its repr;
    ``too_large`` when that text is over ``cap`` characters, so a large value is
    never copied into the reply (the host reports it as an output limit)."""
    kind, text = _encode(value, cap)
    return ("too_large", "null") if len(text) > cap else (kind, text)


def _encode(value, cap: int) -> tuple[str, str]:
    if value is None:
        return "none", "null"
    kind = type(value)
    if kind is str and len(value) > cap:  # its JSON is longer still: not worth encoding
        return "too_large", "null"
    if kind is int and -(10**15) < value < 10**15:  # the common small cases, without json's set-up
        return "json", int.__repr__(value)
    if kind is str and len(value) < 4096 and _valid_text(value):
        return "json", _quote(value)
    if kind is bool:
        return "json", "true" if value else "false"
    if _json_safe(value):
        try:
            return "json", guest_json.dumps(value)  # text checked by _json_safe
        except (ValueError, RecursionError):  # e.g. int too large to print
            pass
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ must not sink the run
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR] + f"... [repr truncated, {len(text)} characters]"
    return "repr", _quote(_clean(text))


def _describe(exc: BaseException) -> dict:
    """A structured, JSON-ready description of an exception raised by the script."""
    if isinstance(exc, MemoryError):
        # Allocation is what failed: build the smallest possible description.
        return {"type": "MemoryError", "message": "out of memory", "traceback": None, "line": None}
    kind = type(exc).__name__
    try:
        # The last line of the standard report: it carries CPython's
        # "Did you mean: ...?" suggestions for NameError and AttributeError.
        report = traceback.TracebackException.from_exception(exc, limit=-1)
        message = list(report.format_exception_only())[-1].strip()
        message = message[len(kind) + 2 :] if message.startswith(kind + ": ") else str(exc)
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
    if not stdout and not stderr and error is None and kind == "none":
        return _EMPTY_REPLY
    # Assembled by hand: encoding the whole dict costs more than the run.
    return "".join((
        '{"stdout": ', _quote(stdout), ', "stderr": ', _quote(stderr),
        ', "error": ', "null" if error is None else guest_json.dumps_ascii(error),
        ', "value_kind": "', kind, '", "value": ', value_json, "}",
    ))  # fmt: skip


def run(code: str, options_json: str, stream=_HostStream) -> str:
    """Run `code`; `stream` makes stdout/stderr (the build-time warm-up passes one that keeps them)."""
    # The host sends "" for "as last time": lowering the same text every run costs more than the run.
    if options_json:
        _options_cache[0] = _settings(options_json)
    fresh, limit, cap, tool_names = _options_cache[0]
    pair = _streams.get(stream)
    if pair is None:
        pair = _streams[stream] = (stream("stdout"), stream("stderr"))
    out, err = pair
    for each in pair:
        if each._flushes or each._parts:  # a heavy printer last run, or text a failed run left
            each._flushes = 0
            each.take()
    if sys.stdout is not out or sys.stderr is not err or sys.__stdout__ is not out or sys.__stderr__ is not err:
        # The originals too: the WASI file under them drops what a short write leaves.
        sys.stdout = sys.__stdout__ = out
        sys.stderr = sys.__stderr__ = err
    if sys.getrecursionlimit() != limit:
        sys.setrecursionlimit(limit)
    if fresh:
        namespace = _fresh_namespace()
        namespace.update(tool_names)
    else:
        namespace = _session_namespace
        if not namespace:
            namespace.update(_fresh_namespace())
        if namespace.get("__otc_tools__") is not tool_names:
            namespace.update(tool_names, __otc_tools__=tool_names)
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    kind, value_json, error = "none", "null", None
    try:
        bodies, final = guest_compile.compile_script(code, bool(tool_names))
        for body in bodies:
            awaitable = eval(body, namespace)
            if body.co_flags & _CO_COROUTINE:
                guest_loop.run_coroutine(awaitable)
        result = namespace.pop(_VALUE, _MISSING)
        if final is not None:
            result = eval(final, namespace)
        if result is not _MISSING:
            namespace["_"] = result
            kind, value_json = _encode_value(result, cap)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = {"type": "SystemExit", "message": _clean(str(exc.code)), "traceback": None, "line": None}
    except BaseException as exc:
        error = {k: _clean(v) if type(v) is str else v for k, v in _describe(exc).items()}
    finally:
        sys.stdout, sys.stderr = out, err
        if guest_tools._pending or guest_tools._outbox:
            guest_tools.cancel_pending()
    return _envelope(out.take(), err.take(), kind, value_json, error)
