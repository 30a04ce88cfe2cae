"""Defining tools, with no sandbox: schemas, docstrings, names, ToolSets, ``bind``."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import Literal, Optional

import pydantic
import pytest

from host_functions import Tool, ToolArgumentError, ToolContext, ToolDefinitionError, ToolSet, tool


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Person(pydantic.BaseModel):
    name: str
    age: int = 0


def rich(
    ctx: ToolContext[str],
    person: Person,
    point: Point,
    color: Color,
    when: datetime.datetime,
    day: datetime.date,
    mode: Literal["fast", "slow"] = "fast",
    note: Optional[str] = None,  # noqa: UP045
    limit: int | None = 3,
) -> list[Person]:
    """Do something rich.

    Args:
        person: Who it is about.
        point: Where, spanning
            two lines.
        mode: How.
    """
    return [person]


RICH = Tool.from_function(rich)
PROPS = RICH.parameters["properties"]


def _resolve(schema: dict, prop: dict) -> dict:
    ref = prop.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[-1]] if ref else prop


def test_context_parameter_is_left_out_of_the_schema() -> None:
    assert "ctx" not in PROPS
    assert RICH.schema.context_parameter == "ctx"
    assert [p["name"] for p in RICH.schema.guest_signature["params"]] == [
        "person", "point", "color", "when", "day", "mode", "note", "limit",
    ]  # fmt: skip


def test_required_and_defaults() -> None:
    assert sorted(RICH.parameters["required"]) == ["color", "day", "person", "point", "when"]
    assert (PROPS["mode"]["default"], PROPS["note"]["default"], PROPS["limit"]["default"]) == ("fast", None, 3)
    assert RICH.parameters["additionalProperties"] is False


@pytest.mark.parametrize(
    ("param", "check"),
    [
        ("person", lambda s: s["type"] == "object" and s["required"] == ["name"]),
        ("point", lambda s: s["type"] == "object" and set(s["properties"]) == {"x", "y"}),
        ("color", lambda s: s["enum"] == ["red", "blue"]),
        ("when", lambda s: s == {"type": "string", "format": "date-time"}),
        ("day", lambda s: s == {"type": "string", "format": "date"}),
        ("mode", lambda s: s["enum"] == ["fast", "slow"]),
        ("note", lambda s: {"type": "null"} in s["anyOf"] and {"type": "string"} in s["anyOf"]),
        ("limit", lambda s: {"type": "null"} in s["anyOf"] and {"type": "integer"} in s["anyOf"]),
    ],
    ids=["pydantic-model", "dataclass", "enum", "datetime", "date", "literal", "optional", "union-none"],
)
def test_schema_from_type_hints(param: str, check) -> None:
    prop = {k: v for k, v in PROPS[param].items() if k not in {"description", "default"}}
    assert check(_resolve(RICH.parameters, prop)), PROPS[param]


def test_return_schema_and_json_serialisable_schemas() -> None:
    assert RICH.returns is not None and RICH.returns["type"] == "array"
    json.dumps([RICH.parameters, RICH.returns])


def sphinx(a: int, b: str = "x") -> None:
    """Sphinx style.

    :param a: The a.
    :param b: The b,
        continued.
    :returns: Nothing.
    """


def numpy(a: int, b: str = "x") -> None:
    """NumPy style.

    Parameters
    ----------
    a : int
        The a.
    b : str
        The b,
        continued.

    Returns
    -------
    None
    """


def google(a: int, b: str = "x") -> None:
    """Google style.

    Args:
        a: The a.
        b (str): The b,
            continued.

    Returns:
        Nothing.
    """


@pytest.mark.parametrize(
    ("func", "description"),
    [(google, "Google style."), (sphinx, "Sphinx style."), (numpy, "NumPy style.")],
    ids=["google", "sphinx", "numpy"],
)
def test_docstring_styles(func, description: str) -> None:
    t = Tool.from_function(func)
    assert t.description == description  # the sections are not part of it
    docs = {name: prop.get("description") for name, prop in t.parameters["properties"].items()}
    assert docs == {"a": "The a.", "b": "The b, continued."}


def test_description_parameter_docs_of_rich() -> None:
    assert RICH.description == "Do something rich."
    assert PROPS["point"]["description"] == "Where, spanning two lines."
    assert "description" not in PROPS["color"]


def _star_args(*values: int) -> None: ...


def _star_kwargs(**values: int) -> None: ...


def _underscore(_private: int) -> None: ...


@pytest.mark.parametrize("func", [_star_args, _star_kwargs, _underscore], ids=["args", "kwargs", "underscore-param"])
def test_unsupported_signatures_are_rejected(func) -> None:
    with pytest.raises(ToolDefinitionError):
        Tool.from_function(func, name="ok_name")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1st", "'1st' is not a Python identifier"),
        ("get-weather", "'get-weather' is not a Python identifier"),
        ("a b", "'a b' is not a Python identifier"),
        ("crm.x-y", "'x-y' is not a Python identifier"),
        ("class", "'class' is a Python keyword"),
        ("crm.for", "'for' is a Python keyword"),
        ("_hidden", "'_hidden' starts with '_'"),
        ("a..b", "it has an empty part"),
        ("crm.", "it has an empty part"),
        ("tools", "'tools' would hide a name the guest's scripts use"),
        ("tools.x", "'tools' would hide a name the guest's scripts use"),
        ("print", "'print' would hide a name the guest's scripts use"),
        (42, "it is a int, not a string"),
    ],
    ids=repr,
)
def test_bad_names_are_rejected_saying_why(name: str, why: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_function(google, name=name)
    assert str(info.value).startswith(f"tool name {name!r} is invalid: {why}")


def test_lambda_and_non_callable_are_rejected() -> None:
    with pytest.raises(ToolDefinitionError):
        Tool.from_function(lambda: None)
    with pytest.raises(ToolDefinitionError):
        Tool.from_function(42)  # type: ignore[arg-type]


def test_decorator_options() -> None:
    @tool(name="renamed", description="Overridden.", inline=True)
    def original(x: int) -> int:
        """Ignored description."""
        return x

    assert (original.name, original.description, original.inline, original.is_async) == (
        "renamed", "Overridden.", True, False,
    )  # fmt: skip
    assert original.function(3) == 3

    async def coro() -> None: ...

    assert tool(coro).is_async
    with pytest.raises(ToolDefinitionError, match="inline"):
        tool(inline=True)(coro)


def first_conflict() -> None: ...


def second_conflict() -> None: ...


def test_name_conflict_names_both_functions() -> None:
    with pytest.raises(ToolDefinitionError) as info:
        ToolSet([first_conflict, Tool.from_function(second_conflict, name="first_conflict")])
    assert "first_conflict" in str(info.value) and "second_conflict" in str(info.value)


def test_name_cannot_be_both_a_tool_and_a_namespace() -> None:
    with pytest.raises(ToolDefinitionError):
        ToolSet([Tool.from_function(google, name="crm"), ToolSet([sphinx], namespace="crm")])


def test_namespacing_and_nesting() -> None:
    inner = ToolSet([google, sphinx], namespace="crm")
    assert inner.names == ["crm.google", "crm.sphinx"]
    outer = ToolSet([inner, numpy, ToolSet([rich])], namespace="app")
    assert outer.names == ["app.crm.google", "app.crm.sphinx", "app.numpy", "app.rich"]
    assert "app.crm.google" in outer and outer.get("app.rich").function is rich
    assert len(outer) == 4 and outer.close_matches("app.numpi")[0] == "app.numpy"
    guest = json.loads(outer.guest_json())
    assert [spec["name"] for spec in guest] == outer.names
    assert all(set(spec) == {"name", "doc", "signature"} for spec in guest)


def test_same_tool_in_two_namespaces_is_fine() -> None:
    both = ToolSet([ToolSet([google], namespace="a"), ToolSet([google], namespace="b")])
    assert both.names == ["a.google", "b.google"]


@pytest.mark.parametrize(
    ("arguments", "facts"),
    [
        ('{"a": "x"}', ["google", "'a'", "integer"]),
        ('{"b": "x"}', ["google", "missing", "'a'"]),
        ('{"a": 1, "c": 2}', ["google", "unexpected", "'c'"]),
        ("[1]", ["google", "object"]),
    ],
    ids=["wrong-type", "missing", "unexpected", "not-an-object"],
)
def test_bind_errors_name_tool_parameter_and_expectation(arguments: str, facts: list[str]) -> None:
    with pytest.raises(ToolArgumentError) as info:
        Tool.from_function(google).bind(arguments)
    for fact in facts:
        assert fact in str(info.value)


def test_bind_converts_to_python_types() -> None:
    args = {"person": {"name": "Ann"}, "point": {"x": 1, "y": 2}, "color": "red", "when": "2024-01-02T03:04:05"}
    positional, keywords = RICH.bind(json.dumps({**args, "day": "2024-01-02"}))
    assert positional == []
    assert keywords["person"] == Person(name="Ann") and keywords["point"] == Point(1, 2)
    assert keywords["color"] is Color.RED and keywords["when"] == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert (keywords["day"], keywords["mode"], keywords["limit"]) == (datetime.date(2024, 1, 2), "fast", 3)


@pytest.mark.parametrize("name", ["print", "open", "ToolError", "tools"], ids=lambda n: n)
def test_names_that_would_hide_guest_names_are_refused(name: str) -> None:
    def f() -> None:
        """Does nothing."""

    with pytest.raises(ToolDefinitionError, match="namespace"):
        Tool.from_function(f, name=name)
    assert Tool.from_function(f, name=f"crm.{name}" if name != "tools" else "crm.x").name.startswith("crm.")


def test_sandbox_takes_a_plain_list_of_tools_and_refuses_other_things() -> None:
    from runtime import Sandbox

    def double(x: int) -> int:
        """Twice ``x``."""
        return 2 * x

    with Sandbox(tools=[double], pool_size=0) as sb:
        assert sb.tools is not None and sb.tools.names == ["double"]
        assert sb.run("double(21)").value == 42
    with pytest.raises(TypeError, match="ToolSet or an iterable"):
        Sandbox(tools=double, pool_size=0)  # type: ignore[arg-type]
