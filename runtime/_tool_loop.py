"""Where tool calls run: an asyncio loop for async tools, threads for sync ones.

``Sandbox.arun`` runs async tools on the caller's own event loop (so they can
use the application's clients); ``Sandbox.run`` uses a process-wide loop on a
daemon thread, started on first use. Sync tools run on a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["background_loop", "tool_threads"]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_threads: ThreadPoolExecutor | None = None

SYNC_TOOL_THREADS = 64
"""Threads for sync tools, shared by every run in the process."""


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide tool loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="otc-tools", daemon=True).start()
            _loop = loop
        return _loop


def tool_threads() -> ThreadPoolExecutor:
    """The bounded pool sync tools run on."""
    global _threads
    with _lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(max_workers=SYNC_TOOL_THREADS, thread_name_prefix="otc-tool")
        return _threads
