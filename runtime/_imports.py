"""The host side of the guest's imports, defined once on the shared linker.

* ``otc:sandbox/host``: output, deadline-aware sleep, and the tool-call
  functions, served by the run's ``ToolDispatcher`` (every call is denied
  when no tools are granted);
* ``wasi:clocks/monotonic-clock`` is replaced: ``now`` and ``resolution`` work,
  but the blocking waits (``subscribe-*``) trap, because an epoch deadline
  cannot interrupt a thread blocked inside WASI. The guest's ``time.sleep``
  goes through ``host.sleep`` instead, which honours the deadline;
* ``wasi:sockets/instance-network`` is replaced by a trap: no network handle
  can be had (the default WASI context denies sockets too).

Every argument is hostile input: handlers check it and end the run with a
``HostTrap`` (after recording why) rather than trust it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from wasmtime.component import Linker, LinkerInstance

from ._abi import HostTrap, add_host_func
from ._run_state import REGISTRY, RunState, Stop

__all__ = ["define_imports"]

HOST_INTERFACE = "otc:sandbox/host@0.1.0"
_STREAMS = frozenset({"stdout", "stderr"})
_MAX_DENIED_BATCH = 1 << 20
_NO_TOOLS = json.dumps({"error": {"kind": "unknown", "tool": "", "message": "no tools are granted to this sandbox"}})


def _state(key: int) -> RunState:
    state = REGISTRY.get(key)
    if state is None:
        raise HostTrap("host function called outside a run")
    return state


def _stop(state: RunState, stop: Stop, detail: str) -> HostTrap:
    state.stop = stop
    state.detail = detail
    return HostTrap(detail)


def _emit(key: int, stream: str, text: str) -> bool:
    state = _state(key)
    if stream not in _STREAMS:
        raise _stop(state, Stop.PROTOCOL, f"emit: unknown stream {stream[:40]!r}")
    if state.capture.overflowed:
        # The guest was told once (False) and kept writing: end the flood.
        raise _stop(state, Stop.OUTPUT, "output limit reached")
    return state.capture.write(stream, text)


def _sleep(key: int, seconds: float) -> None:
    state = _state(key)
    if not seconds >= 0:  # NaN or negative
        raise _stop(state, Stop.PROTOCOL, f"sleep: invalid duration {seconds!r}")
    remaining = state.remaining()
    if not state.cancelled and state.wake is not None:
        state.wake.wait(min(seconds, max(remaining, 0.0)))
    if state.cancelled:
        raise _stop(state, Stop.CANCELLED, "run cancelled")
    if seconds >= remaining:
        raise _stop(state, Stop.TIMEOUT, "run timed out while sleeping")


def _call_tool(key: int, name: str, args: str) -> str:
    dispatcher = _state(key).tools()
    return _NO_TOOLS if dispatcher is None else dispatcher.call(name, args)


def _submit_tool(key: int, name: str, args: str) -> str:
    dispatcher = _state(key).tools()
    return _NO_TOOLS if dispatcher is None else dispatcher.submit(name, args)


def _submit_tools(key: int, batch: str) -> str:
    state = _state(key)
    dispatcher = state.tools()
    if dispatcher is not None:
        return str(dispatcher.submit_many(batch))
    if len(batch) > _MAX_DENIED_BATCH:  # no tools: only a guest bypassing its wrapper sends this
        raise _stop(state, Stop.PROTOCOL, "submit-tools: a batch far over any limit")
    try:
        count = len(json.loads(batch)) // 2
    except (ValueError, TypeError, RecursionError):
        raise _stop(state, Stop.PROTOCOL, "submit-tools: the batch is not a JSON list") from None
    return "[" + ", ".join([_NO_TOOLS] * min(count, 10_000)) + "]"


def _wait_tools(key: int, timeout: float) -> str:
    state = _state(key)
    if timeout != timeout:  # NaN
        raise _stop(state, Stop.PROTOCOL, "wait-tools: invalid timeout")
    dispatcher = state.tools()
    return "[]" if dispatcher is None else dispatcher.wait(timeout)


def _denied(what: str) -> Callable[..., None]:
    def handler(key: int, *args: object) -> None:
        state = REGISTRY.get(key)
        detail = f"the script used {what}, which the sandbox does not grant"
        if state is None:
            raise HostTrap(detail)
        raise _stop(state, Stop.DENIED, detail)

    return handler


def _wasi_version(linker_imports: list[str], interface: str) -> str:
    for name in linker_imports:
        if name.startswith(interface + "@"):
            return name
    raise LookupError(f"the guest does not import {interface}")


def _define_host(instance: LinkerInstance) -> None:
    add_host_func(instance, "emit", _emit, ("string", "string"), "bool")
    add_host_func(instance, "sleep", _sleep, ("f64",), None)
    add_host_func(instance, "call-tool", _call_tool, ("string", "string"), "string")
    add_host_func(instance, "submit-tool", _submit_tool, ("string", "string"), "string")
    add_host_func(instance, "submit-tools", _submit_tools, ("string",), "string")
    add_host_func(instance, "wait-tools", _wait_tools, ("f64",), "string")


def define_imports(linker: Linker, guest_imports: list[str]) -> None:
    """Add WASI, our host interface and the WASI replacements to ``linker``."""
    linker.add_wasip2()
    linker.allow_shadowing = True
    clock = _wasi_version(guest_imports, "wasi:clocks/monotonic-clock")
    network = _wasi_version(guest_imports, "wasi:sockets/instance-network")
    with linker.root() as root:
        with root.add_instance(HOST_INTERFACE) as host:
            _define_host(host)
        with root.add_instance(clock) as clocks:
            add_host_func(clocks, "now", lambda key: time.monotonic_ns(), (), "u64")
            add_host_func(clocks, "resolution", lambda key: 1, (), "u64")
            wait = _denied("a blocking WASI clock wait (use time.sleep)")
            add_host_func(clocks, "subscribe-instant", wait, ("u64",), "u64")
            add_host_func(clocks, "subscribe-duration", wait, ("u64",), "u64")
        with root.add_instance(network) as net:
            add_host_func(net, "instance-network", _denied("the network"), (), "u64")
