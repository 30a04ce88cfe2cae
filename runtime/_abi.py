"""The crossing itself: calls into the guest and host functions it calls back.

wasmtime-py's generic component path rebuilds type reflection on every call
and parks host exceptions in a process-global slot that another thread can
pick up (and a ``BaseException`` in a host function crashes the process).
The WIT world only uses strings, bools, f64 and u64 (the clock), so this module drives the C
API directly for exactly those shapes:

* ``ExportCall`` lowers two strings and lifts one, with no reflection and
  no per-call allocation of C structures;
* ``add_host_func`` registers a callback that can never unwind through wasm:
  whatever the handler raises, ``BaseException`` included, becomes a trap
  value returned to wasmtime on the same thread.

Pinned to one wasmtime version (see pyproject.toml); tests exercise every
shape against the guest.
"""

from __future__ import annotations

import ctypes
import logging
import struct
from collections.abc import Callable
from typing import Any, Literal

from wasmtime import Store, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Func, LinkerInstance

__all__ = ["ExportCall", "HostTrap", "Kind", "add_host_func", "context_key", "set_epoch_callback"]

log = logging.getLogger("otc.abi")

Kind = Literal["string", "bool", "f64", "u64"]
Handler = Callable[..., Any]

_Val = ffi.wasmtime_component_val_t
_STRING = ffi.WASMTIME_COMPONENT_STRING.value
_BOOL = ffi.WASMTIME_COMPONENT_BOOL.value
_F64 = ffi.WASMTIME_COMPONENT_F64.value
_U64 = ffi.WASMTIME_COMPONENT_U64.value
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE


class HostTrap(Exception):
    """Raised by a host handler to end the guest's run on purpose (a trap)."""


def context_key(context: Any) -> int:
    """A stable integer identifying a store's context (the registry key)."""
    return ctypes.cast(context, ctypes.c_void_p).value or 0


# wasm_byte_vec_new with a prototype that takes bytes as they are (wasmtime-py's
# own wants a cast pointer, which costs more than the copy).
_byte_vec_new = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)(
    ctypes.cast(ffi.dll.wasm_byte_vec_new, ctypes.c_void_p).value or 0
)


def _set_string(val: Any, text: str) -> None:
    data = text.encode("utf-8")
    val.kind = _STRING
    _byte_vec_new(ctypes.addressof(val.of.string), len(data), data)


def _get_string(val: Any) -> str:
    if val.kind != _STRING:
        raise HostTrap(f"expected a string, got value kind {val.kind}")
    vec = val.of.string
    return ctypes.string_at(vec.data, vec.size).decode("utf-8") if vec.size else ""


# Raw entry points with plain-pointer prototypes: no ctypes wrapper objects
# per call (the generic ones cost more than a small guest run).
_func_call = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
    ctypes.c_size_t,
)(ctypes.cast(ffi.dll.wasmtime_component_func_call, ctypes.c_void_p).value or 0)
_val_delete = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
    ctypes.cast(ffi.dll.wasmtime_component_val_delete, ctypes.c_void_p).value or 0
)
_STRING_AT = _Val.of.offset  # a string value's byte vector: {size, data} after the kind
_VAL_SIZE = ctypes.sizeof(_Val)
_vec = struct.Struct("<QQ")


class ExportCall:
    """A ``func(string, string) -> string`` export of one store, ready to call.

    Buffers are allocated once; like its store, use it from one thread at a time.
    """

    def __init__(self, store: Store, func: Func) -> None:
        self._store = store  # keeps the context below alive
        self._func = func
        self._func_address = ctypes.addressof(func._func)
        self._context = ctypes.cast(store._context(), ctypes.c_void_p).value or 0
        self._args = (_Val * 2)()
        self._result = _Val()
        self._args_address = ctypes.addressof(self._args)
        self._result_address = ctypes.addressof(self._result)

    def __call__(self, first: str, second: str) -> str:
        """Call it; raises ``WasmtimeError`` when the guest traps."""
        args, base = self._args, self._args_address
        for i, text in enumerate((first, second)):
            data = text.encode("utf-8")
            args[i].kind = _STRING
            _byte_vec_new(base + i * _VAL_SIZE + _STRING_AT, len(data), data)
        try:
            error = _func_call(self._func_address, self._context, base, 2, self._result_address, 1)
        finally:
            _val_delete(base)
            _val_delete(base + _VAL_SIZE)
        if error:
            raise WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))
        try:
            if self._result.kind != _STRING:
                raise HostTrap(f"the export returned value kind {self._result.kind}, not a string")
            size, data = _vec.unpack(ctypes.string_at(self._result_address + _STRING_AT, _vec.size))
            return ctypes.string_at(data, size).decode("utf-8") if size else ""
        finally:
            _val_delete(self._result_address)


def _trap(message: str) -> int:
    return ctypes.cast(ffi.wasmtime_error_new(message.encode("utf-8", "replace")), ctypes.c_void_p).value or 0


def _lift_f64(val: Any) -> float:
    if val.kind != _F64:
        raise HostTrap(f"expected an f64, got value kind {val.kind}")
    return float(val.of.f64)


def _lift_u64(val: Any) -> int:
    if val.kind != _U64:
        raise HostTrap(f"expected a u64, got value kind {val.kind}")
    return int(val.of.u64)


def _lift_bool(val: Any) -> bool:
    if val.kind != _BOOL:
        raise HostTrap(f"expected a bool, got value kind {val.kind}")
    return bool(val.of.boolean)


def _lower_f64(val: Any, value: Any) -> None:
    val.kind = _F64
    val.of.f64 = float(value)


def _lower_u64(val: Any, value: Any) -> None:
    val.kind = _U64
    val.of.u64 = int(value)


def _lower_bool(val: Any, value: Any) -> None:
    val.kind = _BOOL
    val.of.boolean = bool(value)


_LIFT: dict[str, Callable[[Any], Any]] = {"string": _get_string, "f64": _lift_f64, "u64": _lift_u64, "bool": _lift_bool}
_LOWER: dict[str, Callable[[Any, Any], None]] = {
    "string": _set_string,
    "f64": _lower_f64,
    "u64": _lower_u64,
    "bool": _lower_bool,
}


# Callbacks must outlive every store that may call them: keep them here.
_KEEP_ALIVE: list[Any] = []
_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()  # a NULL function pointer


def add_host_func(
    instance: LinkerInstance, name: str, handler: Handler, params: tuple[Kind, ...], result: Kind | None
) -> None:
    """Define ``name`` in ``instance``; ``handler(context_key, *args)`` serves it."""

    lifts = tuple(_LIFT[kind] for kind in params)
    lower = None if result is None else _LOWER[result]
    arity, results_wanted = len(params), 0 if result is None else 1

    def callback(env: Any, context: Any, ty: Any, args: Any, nargs: int, results: Any, nresults: int) -> int:
        try:
            if nargs != arity or nresults != results_wanted:
                return _trap(f"{name}: wrong number of arguments or results")
            key = ctypes.cast(context, ctypes.c_void_p).value or 0
            if arity == 2:  # the tool-call shape: worth unrolling
                value = handler(key, lifts[0](args[0]), lifts[1](args[1]))
            else:
                value = handler(key, *[lift(args[i]) for i, lift in enumerate(lifts)])
            if lower is not None:
                lower(results[0], value)
            return 0
        except HostTrap as exc:
            return _trap(str(exc))
        except BaseException as exc:  # never unwind through wasm, whatever it is
            log.error("host function %s failed; ending the guest's run", name, exc_info=exc)
            return _trap(f"host function {name} failed")

    c_callback = ffi.wasmtime_component_func_callback_t(callback)
    _KEEP_ALIVE.append(c_callback)
    encoded = name.encode("utf-8")
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(encoded), len(encoded), c_callback, None, _NO_FINALIZER
    )
    if error:
        raise WasmtimeError._from_ptr(error)


_EpochCallback = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)


_EPOCH_CALLBACKS: dict[Callable[[int], str | None], Any] = {}


def set_epoch_callback(store: Store, should_stop: Callable[[int], str | None]) -> None:
    """On every epoch tick ask ``should_stop(context_key)``: a message traps the
    guest with it, ``None`` lets it run one more tick. ``should_stop`` should be
    one long-lived function (a registry lookup): one C callback is made per
    function and kept for the life of the process."""
    c_callback = _EPOCH_CALLBACKS.get(should_stop)
    if c_callback is None:

        def callback(context: Any, env: Any, delta: Any, kind: Any) -> int:
            try:
                reason = should_stop(context_key(context))
            except BaseException as exc:
                log.error("epoch check failed; stopping the guest", exc_info=exc)
                reason = "epoch check failed"
            if reason is not None:
                return _trap(reason)
            delta[0] = 1
            kind[0] = _CONTINUE
            return 0

        c_callback = _EPOCH_CALLBACKS[should_stop] = _EpochCallback(callback)
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), c_callback, None, _NO_FINALIZER)
