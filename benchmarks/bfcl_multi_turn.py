"""BFCL v4 multi-turn base: its entries, its stateful backends as tools, the ground truth replayed.

Everything comes from the ``bfcl-eval`` wheel (Apache-2.0; ``pip install
--no-deps bfcl-eval==2026.3.23``): the entries (``BFCL_v4_multi_turn_base.json``:
user turns, each backend's ``initial_config``), the ground truth (one list of
calls per turn, as Python call expressions), and the backends themselves
(``GorillaFileSystem``, ``TradingBot``, ``TravelAPI``, ...), instantiated and
loaded the way BFCL's own checker does: ``cls()`` then
``_load_scenario(deepcopy(initial_config[cls]))``, except the stateless ones.

``replay`` calls the ground truth directly on fresh backends: BFCL's
reference. ``run_entry`` sends it through ``Conversation.handle`` one of four
ways (``STRATEGIES``) and checks every turn against the replay.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import json
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench_bfcl import INSTALL, data_dir

from host_functions import Tool, ToolArgumentError, ToolSet
from runtime.llm import Handled, Toolkit, ToolRequest, ToolResponse

__all__ = ["INSTALL", "STRATEGIES", "Entry", "Replay", "Strategy", "TurnRun", "backend_problem", "data_dir"]
__all__ += ["load_entries", "replay", "run_entry", "script", "toolset", "waves"]

CATEGORY = "multi_turn_base"


@dataclass(frozen=True, slots=True)
class Call:
    """One ground-truth call, e.g. ``mv(source='a.txt', destination='temp')``."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> Call:
        """Parse a ground-truth call expression (its arguments are Python literals)."""
        node = ast.parse(text.strip(), mode="eval").body
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError(f"not a plain call: {text!r}")
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
        return cls(node.func.id, args, kwargs)

    def arguments(self, method: Callable[..., Any]) -> dict[str, Any]:
        """The arguments by parameter name (positional ones bound to ``method``'s signature)."""
        return dict(inspect.signature(method).bind(*self.args, **self.kwargs).arguments)

    def python(self, method: Callable[..., Any]) -> str:
        """The call as Python source with keyword arguments, for a code action."""
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.arguments(method).items())})"


@dataclass(frozen=True, slots=True)
class Entry:
    """One multi-turn conversation: the backends it uses, their initial state, the ground truth per turn."""

    id: str
    classes: tuple[str, ...]
    config: dict[str, Any]
    excluded: frozenset[str]
    """Functions BFCL leaves out of the entry's tool list."""
    turns: tuple[tuple[Call, ...], ...]


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_entries(data: Path) -> list[Entry]:
    """Every entry of the category, with its ground truth parsed."""
    file = f"BFCL_v4_{CATEGORY}.json"
    truth = {item["id"]: item["ground_truth"] for item in _read(data / "possible_answer" / file)}
    return [
        Entry(
            id=item["id"],
            classes=tuple(item["involved_classes"]),
            config=item["initial_config"],
            excluded=frozenset(item.get("excluded_function", ())),
            turns=tuple(tuple(Call.parse(text) for text in turn) for turn in truth[item["id"]]),
        )
        for item in _read(data / file)
    ]


@functools.cache
def _backend_class(name: str) -> type:
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING

    module_name = CLASS_FILE_PATH_MAPPING[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # the package's __init__ chain failed: load the backend's file itself
        data = data_dir()
        assert data is not None
        path = data.parent / "eval_checker/multi_turn_eval/func_source_code" / f"{module_name.rsplit('.', 1)[1]}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # raises the ImportError of a missing dependency again
        sys.modules[module_name] = module
    cls: type = getattr(module, name)
    return cls


def backend_problem(entry: Entry) -> str | None:
    """Why the entry's backends cannot be loaded here (a missing dependency), or None."""
    for name in entry.classes:
        try:
            _backend_class(name)
        except ImportError as exc:
            return f"{name} needs {exc.name} ({exc}): pip install {exc.name}"
    return None


def backends(entry: Entry) -> dict[str, Any]:
    """Fresh instances of the entry's backends, loaded from its ``initial_config`` as BFCL's checker does."""
    from bfcl_eval.constants.executable_backend_config import STATELESS_CLASSES

    instances = {}
    for name in entry.classes:
        instance = _backend_class(name)()
        if name not in STATELESS_CLASSES:
            instance._load_scenario(copy.deepcopy(entry.config.get(name, {})), long_context=False)
        instances[name] = instance
    return instances


def methods(instances: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """Every public method by name; a later class wins a clash, as in BFCL's own name mapping."""
    found: dict[str, Callable[..., Any]] = {}
    for instance in instances.values():
        for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
            if not name.startswith("_"):
                found[name] = method
    return found


def public_state(instances: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What BFCL's state checker compares: each instance's attributes not starting with ``_``."""
    return {name: {k: v for k, v in vars(obj).items() if not k.startswith("_")} for name, obj in instances.items()}


def _fingerprint(instances: dict[str, Any]) -> bytes:
    return pickle.dumps([vars(obj) for obj in instances.values()])


def _plain(result: Any) -> Any:
    """``result`` with mpmath's numbers as floats. ``MathAPI.logarithm`` returns
    an ``mpf``, which JSON cannot carry: as a tool it would fail every call."""
    if isinstance(result, dict):
        return {key: _plain(value) for key, value in result.items()}
    if isinstance(result, list):
        return [_plain(item) for item in result]
    if type(result).__module__.startswith("mpmath"):
        return float(result)
    return result


def _plain_results(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _plain(method(*args, **kwargs))

    return call


def normalise(result: Any) -> Any:
    """A result as it looks after a trip through JSON (what a model and a script get back)."""
    return json.loads(Tool.serialize(_plain(result)))


@dataclass(frozen=True, slots=True)
class Replay:
    """The ground truth called directly, turn by turn, on fresh backends."""

    states: list[dict[str, dict[str, Any]]]
    """Public state after each turn (deep copies)."""
    results: list[list[Any]]
    """Each call's result, normalised through JSON."""
    changes: list[list[bool]]
    """Whether each call changed the backends' full state (private attributes included)."""
    rejected: list[str]
    """Per turn, why a call's ground-truth arguments fail the tool's own schema (its type hints), or ``""``."""


def _rejection(tools: ToolSet, call: Call, method: Callable[..., Any]) -> str:
    tool = tools.get(call.name)
    if tool is None:
        return f"{call.name} is not in the entry's tool list"
    try:
        tool.bind(json.dumps(call.arguments(method)))
    except ToolArgumentError as exc:
        return str(exc)
    return ""


def replay(entry: Entry) -> Replay:
    """Call the ground truth in order on fresh backends (a failing call's result is ``{"error": ...}``)."""
    instances = backends(entry)
    found = methods(instances)
    tools = toolset(instances, entry.excluded)
    states, results, changes, rejected = [], [], [], []
    for turn in entry.turns:
        turn_results, turn_changes = [], []
        rejected.append("; ".join(filter(None, (_rejection(tools, call, found[call.name]) for call in turn))))
        for call in turn:
            before = _fingerprint(instances)
            try:
                # Copies: a backend may keep (and later change) the lists it is given.
                result = found[call.name](*copy.deepcopy(call.args), **copy.deepcopy(call.kwargs))
            except Exception as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
            turn_changes.append(_fingerprint(instances) != before)
            turn_results.append(normalise(result))
        states.append(copy.deepcopy(public_state(instances)))
        results.append(turn_results)
        changes.append(turn_changes)
    return Replay(states=states, results=results, changes=changes, rejected=rejected)


_TEMPLATES: dict[tuple[type, str], Tool] = {}


def _template(cls: type, name: str) -> Tool:
    # Described once per class method (schemas from the hints and docstring), then rebound per instance.
    if (cls, name) not in _TEMPLATES:
        _TEMPLATES[cls, name] = Tool.from_function(getattr(cls(), name), name=name)
    return _TEMPLATES[cls, name]


def toolset(instances: dict[str, Any], excluded: frozenset[str] = frozenset()) -> ToolSet:
    """The backends' public methods as tools, bound to these instances."""
    tools = {}
    for instance in instances.values():
        for name, method in methods({"": instance}).items():
            if name not in excluded:
                tools[name] = dataclasses.replace(_template(type(instance), name), function=_plain_results(method))
    return ToolSet(tools.values())


# --- the strategies: each turn's ground truth sent as a scripted model would -----------------------------------

Strategy = Literal["one_per_round_trip", "batch", "batch_waves", "code"]
STRATEGIES: tuple[Strategy, ...] = ("one_per_round_trip", "batch", "batch_waves", "code")


@dataclass(frozen=True, slots=True)
class TurnRun:
    """One turn done one way, checked against the replay."""

    round_trips: int
    """Model turns that asked for tools (the turn's answer is one more model call)."""
    output_bytes: int
    """UTF-8 bytes of tool output returned to the model."""
    host_seconds: float
    """Time in ``Conversation.handle`` (the runtime's side; no model latency)."""
    state_matched: bool
    """The backends' public state equals the replay's after this turn."""
    results_matched: bool
    """What came back equals the replay's results (of the calls the strategy returns)."""


def waves(changes: list[bool]) -> list[list[int]]:
    """Call indices in ordered batches: consecutive calls that change nothing share one; a call that does is alone."""
    out: list[list[int]] = []
    for index, changed in enumerate(changes):
        if not changed and out and not any(changes[i] for i in out[-1]):
            out[-1].append(index)
        else:
            out.append([index])
    return out


def script(turn: tuple[Call, ...], found: dict[str, Callable[..., Any]], changes: list[bool]) -> tuple[str, list[int]]:
    """The code action for a turn, and which calls' results it returns: those that read, and the last one.

    Results of intermediate calls that change state (``cd``'s new directory,
    ``mkdir``'s status) are not echoed back, as a script written for the
    turn would not.
    """
    returned = [i for i, changed in enumerate(changes) if not changed or i == len(turn) - 1]
    lines = ["results = []"]
    for index, call in enumerate(turn):
        source = call.python(found[call.name])
        lines.append(f"results.append({source})" if index in returned else source)
    return "\n".join([*lines, "results"]), returned


def _request(calls: list[Call], found: dict[str, Callable[..., Any]], number: int) -> ToolRequest:
    """A direct call for one call, a batch request for several."""
    if len(calls) == 1:
        arguments = json.dumps(calls[0].arguments(found[calls[0].name]))
        return ToolRequest(id=f"call_{number}", name=calls[0].name, arguments=arguments)
    items = [{"tool": c.name, "arguments": c.arguments(found[c.name])} for c in calls]
    return ToolRequest(id=f"call_{number}", name=Toolkit.batch_tool, arguments=json.dumps({"calls": items}))


def _plan(
    strategy: Strategy, turn: tuple[Call, ...], found: dict[str, Callable[..., Any]], changes: list[bool]
) -> tuple[list[ToolRequest], list[int]]:
    """(one request per round trip, the indices of the calls whose results come back)."""
    if not turn:
        return [], []  # a turn the ground truth answers without tools
    if strategy == "code":
        code, returned = script(turn, found, changes)
        return [ToolRequest(id="call_0", name=Toolkit.code_tool, arguments=json.dumps({"code": code}))], returned
    everything = list(range(len(turn)))
    if strategy == "one_per_round_trip":
        groups = [[i] for i in everything]
    else:
        groups = waves(changes) if strategy == "batch_waves" else [everything]
    return [_request([turn[i] for i in group], found, n) for n, group in enumerate(groups)], everything


def _returned(request: ToolRequest, response: ToolResponse, handled: Handled) -> list[Any]:
    if request.name == Toolkit.code_tool:
        execution = handled.execution
        ok = execution is not None and execution.ok and isinstance(execution.value, list)
        return list(execution.value) if ok and execution is not None else [{"failed": response.content}]
    if response.is_error and request.name != Toolkit.batch_tool:
        return [{"failed": response.content}]
    parsed = json.loads(response.content)
    if request.name == Toolkit.batch_tool:
        return [item["ok"] if "ok" in item else {"failed": item.get("error")} for item in parsed]
    return [parsed]


def run_entry(strategy: Strategy, entry: Entry, reference: Replay) -> list[TurnRun]:
    """Do every turn of ``entry`` through ``Conversation.handle`` on fresh backends, the ``strategy`` way."""
    instances = backends(entry)
    found = methods(instances)
    kit = Toolkit(
        direct=toolset(instances, entry.excluded),
        code_action=strategy == "code",
        batch=strategy in ("batch", "batch_waves"),
        pool_size=1 if strategy == "code" else 0,
    )
    runs = []
    with kit:
        chat = kit.conversation()
        for index, turn in enumerate(entry.turns):
            if kit.sandbox is not None:  # refilled while the model thinks, in a real loop (latency is added, not slept)
                assert kit.sandbox.wait_ready(timeout=60.0), "the code action's warm pool did not refill"
            requests, returned = _plan(strategy, turn, found, reference.changes[index])
            got: list[Any] = []
            host, size = 0.0, 0
            for request in requests:
                start = time.perf_counter()
                response = chat.handle(request)
                host += time.perf_counter() - start
                size += len(response.content.encode("utf-8"))
                got.extend(_returned(request, response, chat.handled[-1]))
            expected = [reference.results[index][i] for i in returned]
            matched = public_state(instances) == reference.states[index]
            runs.append(TurnRun(len(requests), size, host, matched, got == expected))
    return runs
