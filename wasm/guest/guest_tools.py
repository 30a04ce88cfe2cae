"""Granted tools as Python functions inside the guest, sync and async.

A plain call blocks until the host answers. Where a call's result is
awaited, or handed to an asyncio combinator (``gather``, ``wait``,
``create_task``, ...), ``async_call_sites`` rewrites it at compile time to
*submit* the call instead, and the guest's event loop waits on the host for
completions: many calls in flight, one host round trip per batch.

None of this is trusted by the host, which validates every call.
"""

import ast
import asyncio
import builtins
import collections
import datetime
import inspect
import json
import selectors
import warnings
from json.encoder import encode_basestring_ascii as _quote

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


_encode = json.JSONEncoder(default=_json_default, allow_nan=False).encode
_scan = json.decoder.JSONDecoder().scan_once
_OK = '{"ok": '


def _arguments_json(payload: dict) -> str:
    """JSON for the arguments; flat scalars are written directly (the json
    module's per-call set-up costs more than the encoding itself)."""
    parts = []
    for key, value in payload.items():
        kind = type(value)
        if kind is str:
            text = _quote(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        else:
            return _encode(payload)
        parts.append(_quote(key) + ": " + text)
    return "{" + ", ".join(parts) + "}"


def _outcome(reply: str):
    """(True, value) or (False, exception) from a host reply."""
    if reply.startswith(_OK) and reply.endswith("}"):
        value, end = _scan(reply, len(_OK))
        if end == len(reply) - 1:
            return True, value
    data = json.loads(reply)
    if "ok" in data:
        return True, data["ok"]
    return False, _exception(data.get("error") or {})


def _exception(error: dict) -> ToolError:
    kind = error.get("kind", "error")
    return _ERRORS.get(kind, ToolError)(error.get("message", "tool call failed"), error.get("tool", ""), kind)


_BATCH_BYTES = 256 * 1024  # per crossing; the host refuses batches far larger


def flush() -> None:
    """Send the calls submitted since the last crossing, a few crossings at most."""
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
        acks = json.loads(host.submit_tools(json.dumps(flat)))
        for (future, _, _), ack in zip(batch, acks, strict=True):
            if type(ack) is int:
                _pending[ack] = future
            elif not future.done():
                future.set_exception(_exception(ack.get("error") or {}))


class ToolFunction:
    """A granted tool: call it like the function it stands for."""

    def __init__(self, name: str, doc: str, signature: dict) -> None:
        self.tool_name = name
        self.__name__ = self.__qualname__ = name.rsplit(".", 1)[-1]
        self.__doc__ = doc
        self._spec = signature
        self._positional = [p["name"] for p in signature["params"] if p["kind"] != "keyword_only"]
        self._names = {p["name"] for p in signature["params"]}

    def _payload(self, args, kwargs) -> str:
        if len(args) > len(self._positional):
            raise TypeError(
                f"{self.tool_name}() takes {len(self._positional)} positional arguments but {len(args)} were given"
            )
        payload = dict(zip(self._positional, args, strict=False))
        for key, value in kwargs.items():
            if key in payload:
                raise TypeError(f"{self.tool_name}() got multiple values for argument {key!r}")
            payload[key] = value
        return _arguments_json(payload)

    def __call__(self, *args, **kwargs):
        payload = self._payload(args, kwargs)
        flush()  # calls submitted before this one start first
        ok, value = _outcome(host.call_tool(self.tool_name, payload))
        if ok:
            return value
        raise value

    def submit(self, *args, **kwargs):
        """Start the call (with the next batch) and return an awaitable for its result."""
        future = asyncio.get_running_loop().create_future()
        _outbox.append((future, self.tool_name, self._payload(args, kwargs)))
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


def build(specs: list) -> dict:
    """Top-level names for the granted tools, plus the ``tools`` namespace."""
    root = Namespace("tools")
    top: dict = {"tools": root}
    for spec in specs:
        function = ToolFunction(spec["name"], spec.get("doc", ""), spec["signature"])
        *path, leaf = spec["name"].split(".")
        node = root
        for i, part in enumerate(path):
            node = node._members.setdefault(part, Namespace(".".join(path[: i + 1])))
        node._members[leaf] = function
    for name, member in root._members.items():
        top[name] = member
    return top


def submit_or_call(function, *args, **kwargs):
    """What a rewritten call site runs: submit a tool call, call anything else."""
    if isinstance(function, ToolFunction):
        return function.submit(*args, **kwargs)
    return function(*args, **kwargs)


# --- compile-time rewrite of call sites whose results are awaited -------------------------

_COMBINATORS = frozenset({"gather", "wait", "wait_for", "create_task", "ensure_future", "as_completed", "shield"})


def _is_combinator(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr in _COMBINATORS) or (
        isinstance(func, ast.Name) and func.id in _COMBINATORS
    )


def _submit(call: ast.Call) -> ast.Call:
    return ast.Call(func=ast.Name("__otc_submit__", ast.Load()), args=[call.func, *call.args], keywords=call.keywords)


def _mark(node):
    """Rewrite the calls whose *values* become awaitables: the expression itself,
    or elements of displays, comprehensions and starred arguments, but never
    calls nested in another call's arguments."""
    if isinstance(node, ast.Call):
        return node if _is_combinator(node) else _submit(node)
    if isinstance(node, ast.Starred):
        node.value = _mark(node.value)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        node.elts = [_mark(e) for e in node.elts]
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        node.elt = _mark(node.elt)
    elif isinstance(node, ast.DictComp):
        node.value = _mark(node.value)
    elif isinstance(node, ast.IfExp):
        node.body, node.orelse = _mark(node.body), _mark(node.orelse)
    return node


class _CallSites(ast.NodeTransformer):
    def __init__(self, task_names: set) -> None:
        self.task_names = task_names

    def visit_Await(self, node: ast.Await):
        self.generic_visit(node)
        node.value = _mark(node.value)
        return node

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if _is_combinator(node) or (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in {"append", "add"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in self.task_names
        ):
            node.args = [_mark(arg) for arg in node.args]
        return node

    def visit_Assign(self, node: ast.Assign):
        self.generic_visit(node)
        if any(isinstance(t, ast.Name) and t.id in self.task_names for t in node.targets):
            node.value = _mark(node.value)
        return node


def async_call_sites(tree: ast.Module) -> ast.Module:
    """Rewrite the call sites whose results are awaited to submit tool calls."""
    task_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_combinator(node):
            for arg in node.args:
                inner = arg.value if isinstance(arg, ast.Starred) else arg
                if isinstance(inner, ast.Name):
                    task_names.add(inner.id)
    tree = _CallSites(task_names).visit(tree)
    return ast.fix_missing_locations(tree)


# --- an event loop that waits on the host ---------------------------------------------


class _HostSelector(selectors.BaseSelector):
    """The loop's selector: there are no file descriptors to watch, only tool
    calls in flight (wait on the host) and timers (sleep on the host)."""

    def register(self, fileobj, events, data=None):
        raise OSError("the sandbox has no file descriptors to watch")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def get_map(self):
        return {}

    def select(self, timeout=None):
        flush()
        if _pending:
            finished = json.loads(host.wait_tools(-1.0 if timeout is None else float(timeout)))
            for item in finished:
                future = _pending.pop(item.get("id"), None)
                if future is None or future.done():
                    continue
                ok, value = _outcome(json.dumps(item))
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        elif timeout is None:
            host.sleep(1e9)  # awaiting something that can never finish: the deadline ends it
        elif timeout > 0:
            host.sleep(float(timeout))
        return []

    def close(self):
        pass


class HostEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop without the self-pipe (there is no socketpair)."""

    def __init__(self) -> None:
        super().__init__(selector=_HostSelector())

    def _make_self_pipe(self):
        pass

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return HostEventLoop()


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    asyncio.set_event_loop_policy(_Policy())
builtins.help = help


def run_coroutine(coro):
    """Run a top-level-await script's coroutine to completion on a fresh loop."""
    loop = HostEventLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            cancel_pending()


def cancel_pending() -> None:
    for future in _pending.values():
        future.cancel()
    _pending.clear()
    _outbox.clear()
