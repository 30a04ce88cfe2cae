"""Shared helpers for the containment tests.

Every test in this directory judges containment by its effect on the host
(files untouched, no connection received, no secret in any result field, the
host process still answering), never by the wording of an error message.
The ``arena`` fixture is the hostile-script corpus's world (``corpus/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from corpus import FAMILIES, NOTES, OUTCOMES, table
from corpus import _host as host
from corpus._arena import (
    ENV_NAMES,
    GRANTED,
    LIMITS,
    Account,
    Listeners,
    Secrets,
    make_tools,
    plant_canaries,
    snapshot,
)
from corpus._judge import Arena

from runtime import ExecutionResult, Sandbox
from runtime._tool_loop import SYNC_TOOL_THREADS

WAKE_WASI_SOCKETS = (
    "import socket\ntry:\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nexcept OSError:\n    pass"
)


def _fill_tool_threads(sandbox: Sandbox) -> None:
    """Start every thread of the process-wide sync-tool pool before the baseline is
    taken: the pool grows on demand, which is not a leak."""
    limits = replace(LIMITS, timeout=20.0, tool_timeout=10.0, max_concurrent_tool_calls=SYNC_TOOL_THREADS)
    code = f"import asyncio\nlen(await asyncio.gather(*[slow(0.5) for _ in range({SYNC_TOOL_THREADS})]))"
    result = sandbox.run(code, limits=limits, only_tools=GRANTED)
    assert (result.error, result.value) == (None, SYNC_TOOL_THREADS)


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """The corpus's world and the host's baseline, for one module's attacks."""
    root = tmp_path_factory.mktemp("corpus")
    secrets = Secrets()
    listeners = Listeners()
    with contextlib.closing(listeners), pytest.MonkeyPatch.context() as patch:
        for name, value in zip(ENV_NAMES, secrets.env, strict=True):
            patch.setenv(name, value)
        patch.chdir(root)  # a leaked preopen of "." would be the canary's directory
        places = plant_canaries(root, secrets) | {"TCP": listeners.tcp_port, "UDP": listeners.udp_port}
        with Sandbox(tools=make_tools(root / "canary.txt", secrets), limits=LIMITS, pool_size=2) as sandbox:
            sandbox.wait_ready()
            _fill_tool_threads(sandbox)
            # wasmtime-wasi starts its process-wide tokio runtime (a worker per core, epoll and
            # eventfd descriptors) the first time any guest touches a socket: once per process,
            # not per run, so it is started before the baseline.
            sockets = sandbox.run(WAKE_WASI_SOCKETS, only_tools=GRANTED)
            assert sockets.error is None, sockets.error
            account = Account(user="alice", token=secrets.deps_token)
            warm = sandbox.run("[echo(1), whoami()]", only_tools=GRANTED, context=account)
            assert (warm.error, warm.value) == (None, [1, "alice"])
            # arun's worker thread is made on first use and then kept: started before the baseline.
            warm = asyncio.run(sandbox.arun("[echo(1), echo_async(2)]", only_tools=GRANTED))
            assert (warm.error, warm.value) == (None, [1, 2])
            gc.collect()
            yield Arena(
                root=root,
                secrets=secrets,
                places=places,
                listeners=listeners,
                sandbox=sandbox,
                account=account,
                limits=LIMITS,
                initial=snapshot(root),
                threads=host.threads(),
                fds=host.open_fds(),
                children=host.children(),
                rss_start=host.live_rss_bytes(),
            )


def _observable(result: ExecutionResult) -> str:
    """Everything a caller can see of a result, as one string."""
    parts = [result.stdout, result.stderr, repr(result.value), repr(result)]
    error = result.error
    if error is not None:
        parts += [type(error).__name__, error.type, error.message, error.traceback or "", str(error)]
        parts.append(json.dumps(error.to_dict(), default=repr))
        cause = error.__cause__
        if cause is not None:
            parts.append(str(cause))
    return "\n".join(parts)


@pytest.fixture
def observable() -> Callable[[ExecutionResult], str]:
    """``observable(result)``: every field of a result (and its error) as text."""
    return _observable


@pytest.fixture
def fresh_sandbox() -> Iterator[Sandbox]:
    """A sandbox without a warm pool: each run instantiates its guest on the
    spot, so a test that changes the host (environment, working directory)
    before running is seen by the guest's WASI configuration, if it leaked."""
    with Sandbox(pool_size=0) as sb:
        yield sb


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The corpus table by family, from the outcomes ``test_corpus`` recorded."""
    outcomes = config.stash.get(OUTCOMES, [])
    if not outcomes:
        return
    terminalreporter.section("hostile-script corpus: containment by family")
    for line in [*table(outcomes, FAMILIES), *config.stash.get(NOTES, [])]:
        terminalreporter.write_line(line)
