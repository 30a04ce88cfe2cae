"""The one place where wasmtime's errors become the project's errors.

The host records why it stopped a run (``RunState.stop``) before it traps
the guest, so most traps are classified from host-owned facts, never from
text the guest could influence. Only traps the guest caused without the
host's involvement (stack exhaustion, a crash) are told apart by wasmtime's
own message.
"""

from __future__ import annotations

from wasmtime import ExitTrap, WasmtimeError

from ._errors import (
    Cancelled,
    ExecutionError,
    FuelExhausted,
    GuestBuildError,
    GuestCrashed,
    OutputLimitExceeded,
    RecursionLimitExceeded,
    TimeoutExceeded,
)
from ._run_state import RunState, Stop

__all__ = ["broken_guest", "convert_trap", "not_compiled", "not_instantiated"]


def _first_line(exc: WasmtimeError) -> str:
    text = str(exc).strip()
    # wasmtime prints the wasm backtrace first and the cause last.
    return text.splitlines()[-1].strip() if text else "unknown trap"


def _convert(exc: WasmtimeError, state: RunState, out_of_fuel: bool) -> ExecutionError:
    if state.stop is Stop.TIMEOUT:
        return TimeoutExceeded("the script ran past its wall-clock timeout", value=None)
    if state.stop is Stop.CANCELLED:
        return Cancelled("the run was cancelled by the caller")
    if state.stop is Stop.OUTPUT:
        return OutputLimitExceeded(
            "the script kept printing after the output limit was reached", value=state.capture.cap
        )
    if state.stop is Stop.DENIED:
        return GuestCrashed(state.detail)
    if state.stop is Stop.PROTOCOL:
        return GuestCrashed(f"the guest broke the host protocol: {state.detail}")
    if isinstance(exc, ExitTrap):
        # WASI's exit carries only success or failure, not the script's number.
        return GuestCrashed("the script exited the interpreter (os._exit or a WASI exit)")
    if out_of_fuel:
        return FuelExhausted("the script used up its fuel budget", value=None)
    cause = _first_line(exc)
    if "call stack exhausted" in cause:
        error = RecursionLimitExceeded("the script exhausted the interpreter's stack (nesting too deep)", value=None)
        error.fatal = True
        return error
    return GuestCrashed(f"the guest trapped: {cause}")


def convert_trap(exc: WasmtimeError, state: RunState, *, out_of_fuel: bool) -> ExecutionError:
    """An ``ExecutionError`` for a trap that ended a run; ``exc`` is its cause."""
    error = _convert(exc, state, out_of_fuel)
    error.__cause__ = exc
    return error


def _caused(error: GuestBuildError, exc: WasmtimeError) -> GuestBuildError:
    error.__cause__ = exc
    return error


def not_compiled(exc: WasmtimeError, wasm: object) -> GuestBuildError:
    """The component at ``wasm`` could not be compiled."""
    return _caused(GuestBuildError(f"could not compile the guest component {wasm}: {exc}"), exc)


def not_instantiated(exc: WasmtimeError) -> GuestBuildError:
    """A store could not instantiate the component."""
    return _caused(GuestBuildError(f"could not instantiate the guest: {exc}"), exc)


def broken_guest(exc: WasmtimeError, times: int) -> GuestBuildError:
    """Trusted warm-up calls trapped ``times`` times in a row: the guest itself is broken."""
    message = f"the guest traps in its warm-up, {times} times in a row: {_first_line(exc)}"
    return _caused(GuestBuildError(message), exc)
