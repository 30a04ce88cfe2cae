"""``POST /v1/executions/stream``: output as it is printed, then the result (server-sent events).

The stream is ``text/event-stream``; every ``data`` line is one JSON value::

    event: stdout
    data: "working\\n"

    event: stderr
    data: "warning: ...\\n"

    event: result
    data: {"ok": true, "stdout": "working\\n", ...}      (the ExecutionResponse)

Output events arrive in the order the script printed them, each before the
result, which is always the last event (an unexpected server failure sends
``event: error`` with ``{"detail": ...}`` instead). Requests the server
refuses (401, 422, 429) are ordinary JSON responses: the stream starts only
once the run is admitted.

The script prints on the run's worker thread; ``Sandbox.arun(on_output=...)``
calls back there, and ``loop.call_soon_threadsafe`` moves each piece onto
the event loop's queue, in order, before the run's own completion (which
takes the same path), so the result cannot overtake output. If the client
goes away, the run is cancelled (the guest stops within an epoch tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from ._executions import Admitted, Executions

__all__ = ["MEDIA_TYPE", "stream_response"]

log = logging.getLogger("otc.server")

MEDIA_TYPE = "text/event-stream"


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode("ascii") + b"\ndata: " + data + b"\n\n"


def stream_response(executions: Executions, admitted: Admitted) -> StreamingResponse:
    """Start ``admitted`` now and stream its output and result."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()

    def on_output(stream: str, text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (stream, text))

    # Started here, not in the body: the run (and its slot) must end even if
    # the response body is never iterated.
    task = asyncio.create_task(executions.run(admitted, on_output))
    task.add_done_callback(lambda _: queue.put_nowait(None))

    async def events() -> AsyncIterator[bytes]:
        try:
            while (item := await queue.get()) is not None:
                stream, text = item
                # json.dumps escapes newlines (and lone surrogates): one data line per event.
                yield _event(stream, json.dumps(text).encode("ascii"))
            try:
                _, body = task.result()
            except Exception:
                log.exception("execution %s failed on the server", admitted.execution)
                yield _event("error", b'{"detail":"internal server error; the incident is logged on the server"}')
                return
            yield _event("result", body)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Execution-Id": admitted.execution}
    return StreamingResponse(events(), media_type=MEDIA_TYPE, headers=headers)
