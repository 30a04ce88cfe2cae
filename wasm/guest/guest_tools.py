"""Granted tools as Python functions inside the guest, sync and async.

A plain call blocks until the host answers. Where a call's result is
awaited, or handed to an asyncio combinator, ``guest_callsites`` rewrites it
at compile time to *submit* the call instead; submissions go to the host in
batches, and the event loop of ``guest_loop`` waits on the host for
completions: many calls in flight, few host round trips.

None of this is trusted by the host, which validates every call.
"""

import asyncio
import builtins
import collections
import datetime
import inspect
from json.encoder import encode_basestring_ascii as _quote

import guest_json
from wit_world.imports import host


class ToolError(Exception):
    """A tool call failed; ``tool`` names the tool, ``kind`` says how."""

    def __init__(self, message, tool="", kind="error"):
        super().__init__(message)
        self.tool = tool
        self.kind = kind


class ToolArgumentError(ToolError, TypeError):
    """The arguments do not match the tool's parameters."""


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool did not answer within its timeout."""


_ERRORS = {"arguments": ToolArgumentError, "timeout": ToolTimeoutError}
_pending: dict = {}  # call id -> asyncio.Future, for submitted calls
_outbox: collections.deque = collections.deque()  # (future, name, arguments) not yet sent


def _json_default(value):
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"tool arguments must be JSON-serialisable, not {type(value).__name__}")


_scan = guest_json.scan
_OK = '{"ok": '
_OK_LEN = len(_OK)


def _scalar_json(value):
    """JSON text for a flat scalar, or None for anything else."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is int:
        return f"{value}"  # an exact int's digits, at about half the guest instructions of int.__repr__
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    return None


def _arguments_json(keys, values, payload) -> str:
    """JSON for the arguments; flat scalars are written directly (the json
    module's per-call set-up costs more than the encoding itself). ``keys``
    are the quoted names of ``values``; ``payload`` is the same as a dict."""
    parts = []
    for key, value in zip(keys, values, strict=True):
        text = _scalar_json(value)
        if text is None:
            return guest_json.dumps_checked(payload(), _json_default)
        parts.append(key + text)
    return "{" + ", ".join(parts) + "}"


def _outcome(reply: str):
    """The value of a host reply, or raise its error."""
    data = guest_json.loads(reply)
    if "ok" in data:
        return data["ok"]
    raise _exception(data.get("error") or {})


def settle(future, item: dict) -> None:
    """Complete ``future`` with one finished call from ``wait-tools``."""
    if future.done():
        return
    if "ok" in item:
        future.set_result(item["ok"])
    else:
        future.set_exception(_exception(item.get("error") or {}))


def _exception(error: dict) -> ToolError:
    kind = error.get("kind", "error")
    return _ERRORS.get(kind, ToolError)(error.get("message", "tool call failed"), error.get("tool", ""), kind)


_BATCH_BYTES = 256 * 1024  # per crossing; the host refuses batches far larger
_EARLY_FLUSH = 16


def flush() -> bool:
    """Send the calls submitted since the last crossing, a few crossings at most.
    True when the host refused some at once (their futures are already failed)."""
    refused = False
    while _outbox:
        batch, size = [], 0
        while _outbox and (not batch or size + len(_outbox[0][2]) <= _BATCH_BYTES):
            item = _outbox.popleft()
            batch.append(item)
            size += len(item[2]) + len(item[1])
        flat = []
        for _, name, arguments in batch:
            flat.append(name)
            flat.append(arguments)
        acks = guest_json.loads(host.submit_tools(guest_json.dumps_ascii(flat)))
        for (future, _, _), ack in zip(batch, acks, strict=True):
            if type(ack) is int:
                _pending[ack] = future
            elif not future.done():
                future.set_exception(_exception(ack.get("error") or {}))
                refused = True
    return refused


class ToolFunction:
    """A granted tool: call it like the function it stands for."""

    def __init__(self, name: str, doc: str, signature: dict) -> None:
        self.tool_name = name
        self.__name__ = self.__qualname__ = name.rsplit(".", 1)[-1]
        self.__doc__ = doc
        self._spec = signature
        self._positional = [p["name"] for p in signature["params"] if p["kind"] != "keyword_only"]
        self._quoted = [_quote(name) + ": " for name in self._positional]
        # A one-argument call's payload: this, the value's JSON, "}".
        self._first = "{" + self._quoted[0] if self._quoted else None

    def _payload(self, args, kwargs) -> str:
        if not kwargs and len(args) == 1 and self._first is not None:  # the commonest call
            text = _scalar_json(args[0])
            if text is not None:
                return self._first + text + "}"
        if len(args) > len(self._positional):
            raise TypeError(
                f"{self.tool_name}() takes {len(self._positional)} positional arguments but {len(args)} were given"
            )
        if not kwargs:  # no dict needed unless a value is not a flat scalar
            keys = self._quoted[: len(args)]
            return _arguments_json(keys, args, lambda: dict(zip(self._positional, args, strict=False)))
        payload = dict(zip(self._positional, args, strict=False))
        for key, value in kwargs.items():
            if key in payload:
                raise TypeError(f"{self.tool_name}() got multiple values for argument {key!r}")
            payload[key] = value
        return _arguments_json([_quote(k) + ": " for k in payload], payload.values(), lambda: payload)

    def __call__(self, *args, **kwargs):
        payload = self._payload(args, kwargs)
        if _outbox:
            flush()  # calls submitted before this one start first
        reply = host.call_tool(self.tool_name, payload)
        if reply.startswith(_OK) and reply.endswith("}"):  # a result: only the value needs parsing
            value, end = _scan(reply, _OK_LEN)
            if end == len(reply) - 1:
                return value
        return _outcome(reply)

    def submit(self, *args, **kwargs):
        """Start the call (with the next batch) and return an awaitable for its result."""
        future = asyncio.get_running_loop().create_future()
        _outbox.append((future, self.tool_name, self._payload(args, kwargs)))
        if len(_outbox) >= _EARLY_FLUSH:
            flush()  # let the first calls start while the script builds the rest
        return future

    @property
    def __signature__(self) -> inspect.Signature:
        params = []
        for p in self._spec["params"]:
            default = inspect.Parameter.empty
            if "default" in p:
                default = p["default"]
            elif "default_repr" in p:
                default = _Repr(p["default_repr"])
            kind = getattr(inspect.Parameter, p["kind"].upper())
            annotation = _Repr(p["annotation"]) if p["annotation"] else inspect.Parameter.empty
            params.append(inspect.Parameter(p["name"], kind, default=default, annotation=annotation))
        returns = self._spec.get("returns")
        return inspect.Signature(params, return_annotation=_Repr(returns) if returns else inspect.Signature.empty)

    def __repr__(self) -> str:
        return f"<tool {self.tool_name}{self.__signature__}>"


class _Repr:
    """Shows as its text (annotations and defaults that are not guest objects)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def help(obj=None) -> None:
    """Print the signature and documentation of a tool, function or object."""
    if obj is None:
        print("help(tool) shows a tool's signature and documentation; dir(tools) lists the tools.")
        return
    name = getattr(obj, "tool_name", None) or getattr(obj, "__qualname__", None) or type(obj).__name__
    try:
        signature = str(inspect.signature(obj)) if callable(obj) else ""
    except (TypeError, ValueError):
        signature = "(...)"
    doc = inspect.getdoc(obj) or "(no documentation)"
    print(f"{name}{signature}\n\n" + "\n".join("    " + line for line in doc.splitlines()))


class Namespace:
    """``tools`` and tool namespaces (``crm.list_candidates``)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._members: dict = {}

    def __getattr__(self, name: str):
        try:
            return self.__dict__["_members"][name]
        except KeyError:
            # CPython appends "Did you mean: ...?" from __dir__ to the report.
            raise AttributeError(f"no tool {self._path}.{name}", name=name, obj=self) from None

    def __dir__(self):
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<tools {self._path}: {', '.join(sorted(self._members))}>"


_registry: dict = {}  # tool name -> its ToolFunction, built once from its description


def register(specs: list) -> None:
    """Build a function for each tool described (the host sends a description once per interpreter)."""
    for spec in specs:
        _registry[spec["name"]] = ToolFunction(spec["name"], spec.get("doc", ""), spec["signature"])


def namespace(granted: list) -> dict:
    """Top-level names for the granted tools (registered before), plus the ``tools`` namespace."""
    root = Namespace("tools")
    top: dict = {"tools": root}
    for name in granted:
        function = _registry[name]
        *path, leaf = name.split(".")
        node = root
        for i, part in enumerate(path):
            node = node._members.setdefault(part, Namespace(".".join(path[: i + 1])))
        node._members[leaf] = function
    for name, member in root._members.items():
        top[name] = member
    return top


def submit_as_coroutine(function, *args, **kwargs):
    """For create_task and asyncio.run, which take only coroutines: a tool call
    becomes a coroutine that submits it when it first runs (inside the loop)."""
    if isinstance(function, ToolFunction):
        return _submitted(function, args, kwargs)
    return function(*args, **kwargs)


async def _submitted(function, args, kwargs):
    return await function.submit(*args, **kwargs)


def submit_or_call(function, *args, **kwargs):
    """What a rewritten call site runs: submit a tool call, call anything else."""
    if isinstance(function, ToolFunction):
        return function.submit(*args, **kwargs)
    return function(*args, **kwargs)


builtins.help = help


def cancel_pending() -> None:
    for future in _pending.values():
        future.cancel()
    _pending.clear()
    _outbox.clear()
