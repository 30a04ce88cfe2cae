"""The crossing itself: calls into the guest and host functions it calls back.

wasmtime-py's generic component path rebuilds type reflection on every call
and parks host exceptions in a process-global slot that another thread can
pick up (and a ``BaseException`` in a host function crashes the process).
The WIT world only uses strings, bools, f64 and u64 (the clock), so this module drives the C
API directly for exactly those shapes:

* ``ExportCall`` lowers two strings and lifts one, with no reflection and
  no per-call allocation of C structures (the arguments point into the
  encoded ``bytes``, which wasmtime copies: see ``_BYTES_AT``);
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
import sys
from collections.abc import Callable
from typing import Any, Literal

from wasmtime import Store, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Func, LinkerInstance

__all__ = ["MEMORY", "ExportCall", "HostTrap", "Kind", "add_host_func", "context_key", "set_epoch_callback"]

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


_P, _N = ctypes.c_void_p, ctypes.c_size_t  # a pointer as a plain address; a count


def _raw(name: str, restype: Any, *argtypes: Any, quick: bool = False) -> Any:
    """A C API entry point with our own prototype: pointers as plain addresses,
    so a call makes no ctypes wrapper objects (the generic prototypes cost
    more than a small guest run). ``quick``: it keeps the GIL (a malloc or a
    free): releasing and retaking it costs more, a thread switch apiece when
    other threads wait for it."""
    prototype = ctypes.PYFUNCTYPE if quick else ctypes.CFUNCTYPE
    return prototype(restype, *argtypes)(ctypes.cast(getattr(ffi.dll, name), _P).value or 0)


# wasm_byte_vec_new taking bytes as they are (wasmtime-py's wants a cast pointer).
_byte_vec_new = _raw("wasm_byte_vec_new", None, _P, _N, ctypes.c_char_p, quick=True)
_func_call = _raw("wasmtime_component_func_call", _P, _P, _P, _P, _N, _P, _N)  # runs the guest: releases the GIL
_val_delete = _raw("wasmtime_component_val_delete", None, _P, quick=True)
_STRING_AT = _Val.of.offset  # a string value's byte vector: {size, data} after the kind
_VAL_SIZE = ctypes.sizeof(_Val)
_HEAD = struct.Struct(f"<B{_STRING_AT - 1}xQQ")  # kind, then a string's {size, data}
_F64_PAYLOAD = struct.Struct("<d")  # a scalar's payload, at _STRING_AT
_U64_PAYLOAD = struct.Struct("<Q")

# The process's memory as one byte view, to read and write values by address:
# ctypes.string_at or from_address cost ~1 us a call, a view's slice ~0.2 us,
# and a tool call reads and writes several values.
MEMORY = memoryview((ctypes.c_char * (sys.maxsize >> 1)).from_address(0)).cast("B")


def _utf8_at(address: int, size: int) -> str:
    return str(MEMORY[address : address + size], "utf-8") if size else ""


def _bytes_data_offset() -> int | None:
    """Where a ``bytes`` object's data starts, from its address (``id``), if
    this interpreter lays them out as CPython does (checked, not assumed)."""
    probe = b"otc-runtime: bytes layout probe"
    at = id(probe) + bytes.__basicsize__ - 1  # the header, then the data (+ a NUL)
    return bytes.__basicsize__ - 1 if MEMORY[at : at + len(probe)] == probe else None


_BYTES_AT = _bytes_data_offset()
"""Export arguments point straight at their encoded ``bytes`` (None: copied
into vectors instead). ``wasmtime_component_func_call`` only reads its
arguments, copying them before the guest runs, and the ``bytes`` outlive the
call; this spares a vector allocation and a delete per argument, four C calls
(~2 µs) of a ~40 µs session run."""


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
        base = self._args_address
        if _BYTES_AT is None:
            _put_string(base, first)
            _put_string(base + _VAL_SIZE, second)
            try:
                error = _func_call(self._func_address, self._context, base, 2, self._result_address, 1)
            finally:
                _val_delete(base)
                _val_delete(base + _VAL_SIZE)
        else:
            one, two = first.encode("utf-8"), second.encode("utf-8")  # alive until the call returns
            _HEAD.pack_into(MEMORY, base, _STRING, len(one), id(one) + _BYTES_AT)
            _HEAD.pack_into(MEMORY, base + _VAL_SIZE, _STRING, len(two), id(two) + _BYTES_AT)
            error = _func_call(self._func_address, self._context, base, 2, self._result_address, 1)
        if error:
            raise WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))
        try:
            kind, size, data = _HEAD.unpack_from(MEMORY, self._result_address)
            if kind != _STRING:
                raise HostTrap(f"the export returned value kind {kind}, not a string")
            return _utf8_at(data, size)
        finally:
            _val_delete(self._result_address)


def _trap(message: str) -> int:
    return ctypes.cast(ffi.wasmtime_error_new(message.encode("utf-8", "replace")), ctypes.c_void_p).value or 0


# Host callbacks read and write values by address: a val is a kind byte,
# then (at _STRING_AT) the payload: {size, data} for a string, else a scalar.
def _expect(address: int, kind: int, what: str) -> None:
    if MEMORY[address] != kind:
        raise HostTrap(f"expected {what}, got value kind {MEMORY[address]}")


def _raw_string(address: int) -> str:
    kind, size, data = _HEAD.unpack_from(MEMORY, address)
    if kind != _STRING:
        raise HostTrap(f"expected a string, got value kind {kind}")
    return _utf8_at(data, size)


def _raw_f64(address: int) -> float:
    _expect(address, _F64, "an f64")
    value: float = _F64_PAYLOAD.unpack_from(MEMORY, address + _STRING_AT)[0]
    return value


def _raw_u64(address: int) -> int:
    _expect(address, _U64, "a u64")
    value: int = _U64_PAYLOAD.unpack_from(MEMORY, address + _STRING_AT)[0]
    return value


def _raw_bool(address: int) -> bool:
    _expect(address, _BOOL, "a bool")
    return MEMORY[address + _STRING_AT] != 0


def _put_string(address: int, value: Any) -> None:
    data = value.encode("utf-8")
    MEMORY[address] = _STRING
    _byte_vec_new(address + _STRING_AT, len(data), data)


def _put_f64(address: int, value: Any) -> None:
    MEMORY[address] = _F64
    _F64_PAYLOAD.pack_into(MEMORY, address + _STRING_AT, float(value))


def _put_u64(address: int, value: Any) -> None:
    MEMORY[address] = _U64
    _U64_PAYLOAD.pack_into(MEMORY, address + _STRING_AT, int(value))


def _put_bool(address: int, value: Any) -> None:
    MEMORY[address] = _BOOL
    MEMORY[address + _STRING_AT] = 1 if value else 0


_LIFT: dict[str, Callable[[int], Any]] = {"string": _raw_string, "f64": _raw_f64, "u64": _raw_u64, "bool": _raw_bool}
_LOWER: dict[str, Callable[[int, Any], None]] = {
    "string": _put_string,
    "f64": _put_f64,
    "u64": _put_u64,
    "bool": _put_bool,
}

# wasmtime_component_func_callback_t with every pointer as a plain address.
_RawCallback = ctypes.CFUNCTYPE(_N, _P, _P, _P, _P, _N, _P, _N)


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

    def callback(env: Any, key: int, ty: Any, args: int, nargs: int, results: int, nresults: int) -> int:
        try:
            if nargs != arity or nresults != results_wanted:
                return _trap(f"{name}: wrong number of arguments or results")
            if arity == 2:  # the tool-call shape: worth unrolling
                value = handler(key, lifts[0](args), lifts[1](args + _VAL_SIZE))
            else:
                value = handler(key, *[lift(args + i * _VAL_SIZE) for i, lift in enumerate(lifts)])
            if lower is not None:
                lower(results, value)
            return 0
        except HostTrap as exc:
            return _trap(str(exc))
        except BaseException as exc:  # never unwind through wasm, whatever it is
            log.error("host function %s failed; ending the guest's run", name, exc_info=exc)
            return _trap(f"host function {name} failed")

    raw = _RawCallback(callback)
    _KEEP_ALIVE.append(raw)
    c_callback = ctypes.cast(raw, ffi.wasmtime_component_func_callback_t)
    encoded = name.encode("utf-8")
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(encoded), len(encoded), c_callback, None, _NO_FINALIZER
    )
    if error:
        raise WasmtimeError._from_ptr(error)


_EpochCallback = ctypes.CFUNCTYPE(_N, _P, _P, _P, _P)
# The prototype wasmtime-py declares for it (the same ABI, typed pointers).
_EPOCH_CALLBACK_T: Any = ffi.dll.wasmtime_store_epoch_deadline_callback.argtypes[1]


_EPOCH_CALLBACKS: dict[Callable[[int], str | None], Any] = {}


def set_epoch_callback(store: Store, should_stop: Callable[[int], str | None]) -> None:
    """On every epoch tick ask ``should_stop(context_key)``: a message traps the
    guest with it, ``None`` lets it run one more tick. ``should_stop`` should be
    one long-lived function (a registry lookup): one C callback is made per
    function and kept for the life of the process."""
    c_callback = _EPOCH_CALLBACKS.get(should_stop)
    if c_callback is None:

        def callback(key: int, env: Any, delta: int, kind: int) -> int:
            try:
                reason = should_stop(key)
            except BaseException as exc:
                log.error("epoch check failed; stopping the guest", exc_info=exc)
                reason = "epoch check failed"
            if reason is not None:
                return _trap(reason)
            _U64_PAYLOAD.pack_into(MEMORY, delta, 1)
            MEMORY[kind] = _CONTINUE
            return 0

        c_callback = _EPOCH_CALLBACKS[should_stop] = _EpochCallback(callback)
    typed = ctypes.cast(c_callback, _EPOCH_CALLBACK_T)
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), typed, None, _NO_FINALIZER)
