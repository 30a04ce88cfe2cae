"""A guest's WASI-level stdout and stderr, counted into its run's output.

Most output arrives through the ``emit`` host function (``sys.stdout``), but
a script can write to file descriptors 1 and 2 directly (``os.write``), and
those writes must count against the run's output cap too. wasmtime calls a
C callback for each such write.

wasmtime-py's ``WasiConfig.stdout_custom`` registers one with a finalizer
that calls back into Python when wasmtime drops the stream, which it may do
on one of its own threads, even while the interpreter is shutting down: a
process that exited without closing its sandbox after such writes aborted
(``panic in a function that cannot unwind``). So this module registers one
long-lived C callback per process, with no finalizer, and tells instances
and streams apart by the callback's data word: the store's context key, its
low bit set for stderr (keys are aligned addresses).
"""

from __future__ import annotations

import ctypes
import errno
import logging
from collections.abc import Callable
from typing import Any

from wasmtime import WasiConfig
from wasmtime import _ffi as ffi

from ._abi import MEMORY

__all__ = ["OutputSink", "route_output"]

log = logging.getLogger("otc.wasi")

OutputSink = Callable[[int, str, bytes], "int | None"]
"""``sink(context_key, "stdout" | "stderr", data)``: None if all was taken,
else a negative errno for the guest."""

_STDERR_BIT = 1
_P, _N = ctypes.c_void_p, ctypes.c_size_t
_RawOutput = ctypes.CFUNCTYPE(ctypes.c_ssize_t, _P, _P, _N)
_sinks: list[OutputSink] = []


def _deliver(data: int | None, address: int | None, size: int) -> int:
    try:
        word = data or 0
        stream = "stderr" if word & _STDERR_BIT else "stdout"
        result = _sinks[0](word & ~_STDERR_BIT, stream, bytes(MEMORY[(address or 0) : (address or 0) + size]))
        return size if result is None else int(result)
    except BaseException as exc:  # never unwind into wasmtime
        log.error("a guest's WASI output could not be delivered", exc_info=exc)
        return -errno.EIO


_RAW_CALLBACK = _RawOutput(_deliver)  # one for the life of the process
# The prototypes wasmtime-py declares (the same ABI, typed pointers).
_CALLBACK_T: Any = ffi.dll.wasi_config_set_stdout_custom.argtypes[1]
_FINALIZER_T: Any = ffi.dll.wasi_config_set_stdout_custom.argtypes[3]
_CALLBACK = ctypes.cast(_RAW_CALLBACK, _CALLBACK_T)
_NO_FINALIZER = _FINALIZER_T()  # a NULL function pointer


def route_output(config: WasiConfig, key: int, sink: OutputSink) -> None:
    """Send the stdout and stderr of the store with context ``key`` (configured
    by ``config``) to ``sink``, which must be the same function every time."""
    if key & _STDERR_BIT:
        raise ValueError(f"a context key is an aligned address, got {key:#x}")
    if not _sinks:
        _sinks.append(sink)
    elif _sinks[0] is not sink:
        raise ValueError("route_output takes one sink for the whole process")
    pointer = config.ptr()
    ffi.wasi_config_set_stdout_custom(pointer, _CALLBACK, key, _NO_FINALIZER)
    ffi.wasi_config_set_stderr_custom(pointer, _CALLBACK, key | _STDERR_BIT, _NO_FINALIZER)
