"""Shared fixtures: the costly objects are made once per test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from runtime import Limits, Sandbox
from runtime._abi import ExportCall
from runtime._instance import GuestInstance


def _check_healthy(sb: Sandbox) -> None:
    result = sb.run("print('still here')\n1 + 1")
    assert result.error is None, result.error
    assert (result.value, result.stdout) == (2, "still here\n")


@pytest.fixture
def check_healthy() -> Callable[[Sandbox], None]:
    """``check_healthy(sb)``: the sandbox (and the host) still runs a normal script correctly."""
    return _check_healthy


@pytest.fixture
def sent_options(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The options text of every call into a guest's ``run`` export from now on, in order
    ("" when the guest already has them)."""
    sent: list[str] = []
    real = ExportCall.__call__

    def spy(self: ExportCall, code: str, options: str) -> str:
        sent.append(options)
        return real(self, code, options)

    monkeypatch.setattr(ExportCall, "__call__", spy)
    return sent


@pytest.fixture
def instances() -> Iterator[list[GuestInstance]]:
    """A list to put new guest instances in: each is closed after the test."""
    made: list[GuestInstance] = []
    yield made
    for instance in made:
        instance.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox with the default limits and a warm pool."""
    with Sandbox(pool_size=2) as sb:
        sb.wait_ready()
        yield sb


@pytest.fixture(scope="session")
def quick() -> Iterator[Sandbox]:
    """A sandbox with a short timeout, for tests that hit it on purpose."""
    with Sandbox(limits=Limits(timeout=0.5), pool_size=1) as sb:
        yield sb
