"""Tools as the Python stubs a model reads in the code tool's description."""

from __future__ import annotations

import datetime
import enum

from pydantic import BaseModel

from host_functions import ToolSet, tool
from runtime.llm import python_stubs
from runtime.llm._stubs import result_shape


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    name: str
    when: datetime.datetime
    children: list[Item] = []


@tool
def paint(item_id: int, /, color: Color, *, coats: int = 2, note: str | None = None) -> Item:
    """Paint an item.

    Args:
        item_id: Which item.
        color: The color.
    """
    raise NotImplementedError


@tool
def ping() -> None:
    """Check that the service answers."""


def test_signature_kinds_defaults_and_enums_are_spelled_out() -> None:
    stub = python_stubs([paint])
    first = stub.splitlines()[0]
    assert (
        first
        == 'def paint(item_id: int, /, color: "red" | "blue", *, coats: int = 2, note: str | None = None) -> Item:'
    )
    assert "    Args:\n        item_id: Which item.\n        color: The color." in stub


def test_result_shapes_resolve_refs_and_stop_at_depth() -> None:
    shape = result_shape(paint.returns)
    assert shape is not None
    assert shape.startswith('{"name": str, "when": str (date-time), "children": list[{"name": str')
    assert "{...}" in shape  # a recursive model does not recurse forever


def test_a_none_result_adds_no_returns_line() -> None:
    assert "Returns JSON" not in python_stubs([ping])


def test_namespaced_tools_are_grouped_under_a_class() -> None:
    stubs = python_stubs(ToolSet([paint, ping], namespace="shop"))
    assert stubs.startswith("class shop:  # namespace: call shop.<name>(...)\n    def paint(")
    assert "\n    def ping() -> None:" in stubs
