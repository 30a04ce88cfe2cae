"""Strategies, tools and checks shared by the property-based tests (``tests/fuzz``).

Values are sent into the guest as Python source (``source``), never as JSON,
so that what crosses the boundary is exactly what the guest built: NaN,
infinities, huge integers and lone surrogates included.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from host_functions import ToolSet, tool
from runtime import ExecutionError, ExecutionResult, Limits, Sandbox

__all__ = [
    "FUZZ",
    "LIMITS",
    "TEXT",
    "VALUES",
    "Handout",
    "assert_clean",
    "assert_healthy",
    "finite",
    "has_surrogates",
    "json_safe",
    "make_tools",
    "paired",
    "parse_repr",
    "same_json",
    "same_value",
    "source",
]

LIMITS = Limits(timeout=2.0, memory_mb=128, max_output_bytes=200_000)
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
"""Bounded so the folder runs in well under a minute; no example database in the tree."""

MAX_INT = 10**4200
"""Integers up to here have fewer than 4300 digits: CPython's int/str limit, on both sides."""

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
_AWKWARD = st.sampled_from(["\x00", "\n", "\r", "\t", "\x1b", "\u2028", "\ufeff", "\U0001f600", "\\", "'", '"'])
TEXT = st.lists(st.one_of(st.characters(), _SURROGATES, _AWKWARD), max_size=40).map("".join)
"""Arbitrary Unicode, lone surrogates and control characters mixed in on purpose."""
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-MAX_INT, max_value=MAX_INT),
    st.floats(),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(TEXT, inner, max_size=6),
    max_leaves=25,
)
"""JSON-shaped values and their near misses (NaN, infinities, surrogates)."""


def source(value: Any) -> str:
    """A Python expression that builds ``value`` (lists, dicts, scalars) in the guest."""
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(source(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {source(item)}" for key, item in value.items()) + "}"
    raise TypeError(type(value).__name__)


def _walk(value: Any) -> list[Any]:
    """Every scalar and dict key in ``value``."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in _walk(item)]
    if isinstance(value, dict):
        return [*value.keys(), *(leaf for item in value.values() for leaf in _walk(item))]
    return [value]


def has_surrogates(value: Any) -> bool:
    return any(isinstance(leaf, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in leaf) for leaf in _walk(value))


def finite(value: Any) -> bool:
    return not any(isinstance(leaf, float) and not math.isfinite(leaf) for leaf in _walk(value))


def json_safe(value: Any) -> bool:
    """Representable as strict JSON text exactly (no NaN, infinities or lone surrogates)."""
    return finite(value) and not has_surrogates(value)


def paired(value: Any) -> Any:
    """``value`` as JSON text carries it: a high surrogate followed by a low one is one
    character there (the guest escapes each code unit; the host's parser pairs them)."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, list):
        return [paired(item) for item in value]
    if isinstance(value, dict):
        return {paired(key): paired(item) for key, item in value.items()}
    return value


def parse_repr(text: str) -> Any:
    """The value a repr of lists, dicts and scalars stands for (``nan`` and ``inf`` included),
    without evaluating it. Used instead of comparing repr text, which depends on each side's
    Unicode database (which characters are printable)."""

    def build(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("nan", "inf"):
            return float(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -build(node.operand)
        if isinstance(node, ast.List):
            return [build(item) for item in node.elts]
        if isinstance(node, ast.Dict):
            return {build(key): build(item) for key, item in zip(node.keys, node.values, strict=True) if key}
        raise ValueError(f"unexpected {ast.dump(node)[:80]} in a repr")

    return build(ast.parse(text, mode="eval").body)


def same_value(a: Any, b: Any) -> bool:
    """Equal with types kept and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON: types kept (True is not 1), float signs and dict order included."""
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


@dataclass
class Handout:
    """What the ``give`` tool returns next (set by the test before each run)."""

    value: Any = None


def make_tools(handout: Handout) -> ToolSet:
    @tool
    def echo(value: Any) -> Any:
        """Return the argument unchanged."""
        return value

    @tool
    async def echo_async(value: Any) -> Any:
        """Return the argument unchanged, from the event loop."""
        await asyncio.sleep(0)
        return value

    @tool
    def give() -> Any:
        """Return the value the test put in the handout."""
        return handout.value

    return ToolSet([echo, echo_async, give])


def assert_clean(result: ExecutionResult, limits: Limits = LIMITS) -> None:
    """A well-formed result: bounded output and, if any, a structured error."""
    assert isinstance(result, ExecutionResult)
    assert len(result.stdout.encode("utf-8", "replace")) + len(result.stderr.encode("utf-8", "replace")) <= (
        limits.max_output_bytes
    )
    assert result.value_kind in ("none", "json", "repr")
    if result.value_kind == "repr":
        assert isinstance(result.value, str)
    if result.error is not None:
        assert isinstance(result.error, ExecutionError)
        assert isinstance(result.error.type, str) and isinstance(result.error.message, str)
    json.dumps(result.to_dict(), allow_nan=False)  # what the host hands on is strict JSON


def assert_healthy(sb: Sandbox) -> None:
    """The sandbox (and the host) still runs a normal script with a tool call correctly."""
    token = uuid.uuid4().hex
    result = sb.run(f"print('ok')\n[echo({token!r}), 6 * 7]")
    assert (result.error, result.stdout, result.value) == (None, "ok\n", [token, 42])
