"""The audit log: one JSON line per execution and per tool call.

Lines are written by a background thread (``AuditFile``: a ``QueueListener``
and a ``RotatingFileHandler``), so request handlers never wait on the disk.
A daemon's worker processes send theirs to the supervisor's ``AuditFile``
through a ``multiprocessing`` queue, so there is one file, rotated by one
writer. A line names the caller, never its token: the log only ever
receives an identity's ``name``.

An execution line::

    {"time": "2025-01-01T12:00:00.000+00:00", "event": "execution", "execution": "9f1c...",
     "identity": "alice", "code_sha256": "...", "code_bytes": 42, "tools": ["echo"],
     "stream": false, "outcome": "ok", "error": null, "limit": null, "duration": 0.0021,
     "tool_calls": 1, "result_bytes": 310}

A tool-call line (one per entry of the run's call log)::

    {"time": "...", "event": "tool_call", "execution": "9f1c...", "identity": "alice",
     "code_sha256": "...", "tool": "echo", "call": 1, "outcome": "ok", "arguments_bytes": 8,
     "result_bytes": 1, "duration": 0.0001}

``outcome`` of an execution is ``ok``, the error's class name
(``TimeoutExceeded``, ``GuestException``...) or, for a request turned away
after authentication, ``rejected`` with the reason in ``error``
(``rate_limited``, ``busy``, ``invalid``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from logging.handlers import QueueListener, RotatingFileHandler
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from runtime import ToolCall

__all__ = ["AuditFile", "AuditLog", "code_hash"]

_MAX_TOOL_NAME = 200  # the call log keeps the name the script asked for: hostile, so bounded


def code_hash(code: str) -> str:
    """The sha256 of ``code`` (UTF-8, surrogates escaped), in hex."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class AuditFile:
    """Writes the records put on ``queue`` to ``path``, rotating it at
    ``max_bytes`` (keeping ``backups`` old files), on a background thread.

    ``queue``: a ``multiprocessing`` queue other processes' ``AuditLog`` put
    records on; default, a new in-process queue. Raises ``OSError`` when the
    file cannot be opened. ``close()`` writes what is queued and closes the file.
    """

    def __init__(self, path: str | Path, *, max_bytes: int = 10 << 20, backups: int = 5, queue: Any = None) -> None:
        self.path = Path(path)
        self._handler = RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self.queue: Any = queue if queue is not None else SimpleQueue()
        self._listener = QueueListener(self.queue, self._handler)
        self._listener.start()
        self._closed = False

    def close(self) -> None:
        """Write every queued record and close the file (idempotent)."""
        if not self._closed:
            self._closed = True
            self._listener.stop()
            self._handler.close()
            if hasattr(self.queue, "join_thread"):  # a multiprocessing queue: end its feeder thread
                self.queue.close()
                self.queue.join_thread()


class AuditLog:
    """Audit lines, appended to ``path`` (an ``AuditFile`` of its own, with
    ``max_bytes`` and ``backups``) or, without a path, put on ``queue`` (a
    ``multiprocessing`` queue another process's ``AuditFile`` writes).

    Raises ``OSError`` when the file cannot be opened. ``close()`` writes
    what is queued and closes the file.
    """

    def __init__(
        self, path: str | Path | None = None, *, max_bytes: int = 10 << 20, backups: int = 5, queue: Any = None
    ) -> None:
        if (path is None) == (queue is None):
            raise ValueError("an AuditLog writes to a path or to a queue, not both or neither")
        self._file = AuditFile(path, max_bytes=max_bytes, backups=backups) if path is not None else None
        self._queue: Any = self._file.queue if self._file is not None else queue
        self._closed = False

    def _write(self, line: dict[str, Any]) -> None:
        if self._closed:
            return
        text = json.dumps(line, ensure_ascii=True, separators=(", ", ": "), default=str)
        self._queue.put_nowait(logging.makeLogRecord({"msg": text, "levelno": logging.INFO, "levelname": "INFO"}))

    def execution(
        self,
        *,
        execution: str,
        identity: str,
        code: str,
        tools: Sequence[str],
        stream: bool,
        outcome: str,
        error: str | None = None,
        limit: str | None = None,
        duration: float = 0.0,
        tool_calls: int = 0,
        result_bytes: int = 0,
        at: float,
    ) -> None:
        """One execution line (``at``: when the request arrived, seconds since the epoch)."""
        self._write(
            {
                "time": _when(at),
                "event": "execution",
                "execution": execution,
                "identity": identity,
                "code_sha256": code_hash(code),
                "code_bytes": len(code.encode("utf-8", "surrogatepass")),
                "tools": list(tools),
                "stream": stream,
                "outcome": outcome,
                "error": error,
                "limit": limit,
                "duration": round(duration, 6),
                "tool_calls": tool_calls,
                "result_bytes": result_bytes,
            }
        )

    def tool_calls(self, *, execution: str, identity: str, code: str, calls: Iterable[ToolCall], at: float) -> None:
        """One line per call of a run's call log (``at``: when the run started, epoch seconds)."""
        digest = code_hash(code)
        for call in calls:
            self._write(
                {
                    "time": _when(at + call.started),
                    "event": "tool_call",
                    "execution": execution,
                    "identity": identity,
                    "code_sha256": digest,
                    "tool": call.tool[:_MAX_TOOL_NAME],
                    "call": call.id,
                    "outcome": call.outcome,
                    "arguments_bytes": call.arguments_bytes,
                    "result_bytes": call.result_bytes,
                    "duration": round(call.duration, 6),
                }
            )

    def close(self) -> None:
        """Stop logging; write every queued line and close the file, if it has one (idempotent)."""
        self._closed = True
        if self._file is not None:
            self._file.close()
