"""An asyncio event loop for the guest that waits on the host.

The guest has no file descriptors to watch and no socketpair for asyncio's
self-pipe: its selector waits on the host for tool completions (or sleeps
on the host for timers), and the self-pipe is left out.
"""

import asyncio
import selectors
import warnings

import guest_json
import guest_tools
from wit_world.imports import host


class _HostSelector(selectors.BaseSelector):
    """The loop's selector: there are no file descriptors to watch, only tool
    calls in flight (wait on the host) and timers (sleep on the host)."""

    def register(self, fileobj, events, data=None):
        raise OSError("the sandbox has no file descriptors to watch")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def get_map(self):
        return {}

    def select(self, timeout=None):
        if guest_tools.flush():
            return []  # calls refused at submission: their callbacks are ready to run now
        if guest_tools._pending:
            finished = guest_json.loads(host.wait_tools(-1.0 if timeout is None else float(timeout)))
            for item in finished:
                future = guest_tools._pending.pop(item.get("id"), None)
                if future is not None:
                    guest_tools.settle(future, item)
        elif timeout is None:
            host.sleep(1e9)  # awaiting something that can never finish: the deadline ends it
        elif timeout > 0:
            host.sleep(float(timeout))
        return []

    def close(self):
        pass


class HostEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop without the self-pipe (there is no socketpair)."""

    def __init__(self) -> None:
        super().__init__(selector=_HostSelector())

    def _make_self_pipe(self):
        pass

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return HostEventLoop()


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    asyncio.set_event_loop_policy(_Policy())


def run_coroutine(coro):
    """Run a top-level-await script's coroutine to completion on a fresh loop."""
    loop = HostEventLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            guest_tools.cancel_pending()
