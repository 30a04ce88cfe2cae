"""Results are serialised on the host: rich Python values reach the script as JSON."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from host_functions import ToolSet, tool
from runtime import Sandbox


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Owner(pydantic.BaseModel):
    name: str
    since: datetime.date


@dataclasses.dataclass
class Ticket:
    id: uuid.UUID
    level: Level
    owner: Owner
    opened: datetime.datetime
    cost: decimal.Decimal
    tags: set[str]


TICKET = Ticket(
    id=uuid.UUID(int=7),
    level=Level.HIGH,
    owner=Owner(name="Ada", since=datetime.date(2024, 5, 1)),
    opened=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    cost=decimal.Decimal("12.50"),
    tags={"urgent"},
)


@tool
def ticket() -> Ticket:
    """The ticket, with every kind of value a tool may return."""
    return TICKET


@tool
def raw(kind: str) -> Any:
    """A single rich value."""
    return {"enum": Level.LOW, "model": TICKET.owner, "date": datetime.date(2026, 2, 3), "none": None}[kind]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(tools=ToolSet([ticket, raw]), pool_size=1) as sandbox:
        yield sandbox


def test_a_dataclass_of_rich_values_arrives_as_json(sb: Sandbox) -> None:
    r = sb.run("t = ticket()\n[type(t).__name__, t]")
    assert r.error is None, r.error
    assert r.value == [
        "dict",
        {
            "id": "00000000-0000-0000-0000-000000000007",
            "level": "high",
            "owner": {"name": "Ada", "since": "2024-05-01"},
            "opened": "2026-01-02T03:04:05Z",
            "cost": "12.50",
            "tags": ["urgent"],
        },
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("enum", "low"), ("model", {"name": "Ada", "since": "2024-05-01"}), ("date", "2026-02-03"), ("none", None)],
    ids=["enum", "pydantic-model", "date", "none"],
)
def test_single_values(sb: Sandbox, kind: str, expected: object) -> None:
    r = sb.run(f"v = raw({kind!r})\n[v]")
    assert r.error is None, r.error
    assert r.value == [expected]
