"""One hostile script of the corpus, and what its run must show besides clean effects.

Every attack is judged first by its effects on the host (see ``_judge``);
``expect`` and ``returns`` add what the run itself must report, where the
outcome is known exactly (a limit's typed error, a proof value such as an
empty list of files found).
"""

from __future__ import annotations

import enum
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runtime import ExecutionError, Limits

__all__ = ["NO_VALUE", "Attack", "Expect", "ExpectedError", "NoValue", "family"]


class Expect(enum.Enum):
    """Run-level expectations that are not one error class."""

    ANY = "any"
    """Judged by its effects on the host alone: any result is fine."""
    FAILS = "fails"
    """The run must also end in an error (of any class)."""


class NoValue(enum.Enum):
    NO_VALUE = "no value"


NO_VALUE = NoValue.NO_VALUE
"""``Attack.returns`` default: the run's value is not checked."""

ExpectedError = Expect | type[ExecutionError] | tuple[type[ExecutionError], ...]


@dataclass(frozen=True, kw_only=True)
class Attack:
    """A script that tries to cause ``effect`` on the host."""

    id: str
    """Unique in the corpus; the pytest id."""
    family: str
    """The kind of attack (the summary table's rows)."""
    effect: str
    """What the script tries to cause, in a line."""
    code: str
    """The script: a ``string.Template`` filled from the arena (``$CANARY``,
    ``$TCP``...); a literal dollar is written ``$$``."""
    expect: ExpectedError = Expect.ANY
    """What the run must report besides clean effects: an ``ExecutionError``
    class (or several), ``Expect.FAILS`` or ``Expect.ANY``."""
    returns: object = NO_VALUE
    """When set, the run must succeed with exactly this value."""
    limits: Limits | None = None
    """Limits for this attack instead of the corpus defaults."""
    victim: bool = False
    """Run a well-behaved run with tool calls at the same time; it must get
    exactly its own results."""
    absent: tuple[str, ...] = ()
    """Text, besides the canary secrets, that must appear nowhere in the result."""

    def render(self, places: Mapping[str, object]) -> str:
        """The script with the arena's paths, ports and names filled in."""
        return string.Template(self.code).substitute(places)


def family(name: str, prefix: str) -> Callable[..., Attack]:
    """A constructor for the attacks of one family: ``A(id, effect, code, **options)``."""

    def make(
        id: str,
        effect: str,
        code: str,
        *,
        expect: ExpectedError = Expect.ANY,
        returns: object = NO_VALUE,
        limits: Limits | None = None,
        victim: bool = False,
        absent: tuple[str, ...] = (),
    ) -> Attack:
        return Attack(
            id=f"{prefix}-{id}",
            family=name,
            effect=effect,
            code=code,
            expect=expect,
            returns=returns,
            limits=limits,
            victim=victim,
            absent=absent,
        )

    return make
