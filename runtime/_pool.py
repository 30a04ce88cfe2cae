"""A warm pool of pre-instantiated, pre-warmed guests, refilled in the background.

Instantiating costs ~2 ms and the first calls into a new instance several
more of copy-on-write faults; a pooled, warmed instance has paid both, so a
run only pays for itself. After a short run the instance is restored
(``GuestInstance.restore``: its written pages get back the bytes they had
after its warm-up, or at instantiation if it was never warmed; ~0.2 ms) and
goes back into the pool; any other used instance is freed. The refill thread
restores it, or, after ``arun``, the run's own worker thread once the caller
has the result (``release(restore_here=True)``: no thread to wake). Filling comes
before warming: a new instance goes into the pool cold at once, and is
warmed (~5-11 ms) only while the pool is full and no run is in flight.
Under load the pool so keeps up at the rate instances can be made, each run
still saving the instantiation, and when load drops every ready instance is
warmed again.

One background thread both creates and frees instances: creating and
dropping linear memories from several threads at once costs far more (TLB
shootdowns) than doing it all on one. And that thread waits while runs are
in flight (unless the pool ran dry), so its page-table churn does not land
in the middle of someone's run.
"""

from __future__ import annotations

import collections
import logging
import threading

from wasmtime import WasmtimeError

from ._engine import GuestRuntime, guest_runtime
from ._instance import GuestInstance
from ._learned_grants import LearnedGrants
from ._limits import Limits
from ._traps import broken_guest

__all__ = ["InstancePool"]

log = logging.getLogger("otc.pool")

_MAX_FAILED_WARM_UPS = 3
_MAX_RETIRED = 64
"""Past this many used instances waiting to be freed, free them even mid-run."""


class InstancePool:
    """Keeps ``size`` warm instances of one engine flavour ready.

    ``size=0`` keeps none: every ``acquire`` instantiates on the spot.
    """

    def __init__(
        self,
        *,
        fuel: bool,
        size: int,
        tools_json: str = "",
        tool_names: tuple[str, ...] = (),
        limits: Limits | None = None,
    ) -> None:
        """``limits``: the usual limits of the runs (their sandbox's), for the warm-ups."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"pool size must be a non-negative integer, got {size!r}")
        self.fuel = fuel
        self.size = size
        self._tools = (tools_json, tool_names)  # warm-ups build the sandbox's tools, for its runs
        self._grants = LearnedGrants(tool_names)
        self._limits = Limits() if limits is None else limits
        # Warming changes interpreter state (caches, GC counts), so
        # fuel-metered instances stay as built: same code, same fuel.
        self._warms = not fuel
        self._ready: collections.deque[GuestInstance] = collections.deque()
        """Warmed instances on the left (handed out first), cold ones on the right."""
        self._retired: list[GuestInstance] = []
        self._used: list[GuestInstance] = []
        """Handed back after a run, to be restored (``GuestInstance.restore``) or freed."""
        self._cond = threading.Condition()
        self._closed = False
        self._runtime: GuestRuntime | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._busy = 0
        self._waiting = 0
        """Threads in ``wait_ready``."""

    def runtime(self) -> GuestRuntime:
        if self._runtime is None:
            self._runtime = guest_runtime(fuel=self.fuel)
        return self._runtime

    def start(self) -> None:
        """Start filling in the background (idempotent)."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._refill, name="otc-pool", daemon=True)
                self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the pool is full and warmed; False on timeout. Re-raises a fill failure."""
        self.start()
        with self._cond:
            self._waiting += 1
            try:
                full = self._cond.wait_for(
                    lambda: (len(self._ready) >= self.size and not self._cold()) or self._failure is not None, timeout
                )
            finally:
                self._waiting -= 1
            if self._failure is not None:
                raise self._failure
            return full

    @property
    def ready(self) -> int:
        """Instances ready to hand out now (warmed or not)."""
        return len(self._ready)

    def acquire(self, *, keep: bool = False) -> GuestInstance:
        """A warm instance if one is ready, else one restored on this thread,
        else a new one made on this thread.

        Hand it back with ``release`` after one run; ``keep=True`` (a session)
        takes it for good: the caller closes it.
        """
        instance = self._take(keep)
        if keep:
            instance.keep()
        return instance

    def note_grant(self, names: tuple[str, ...]) -> None:
        """A run was granted the tools ``names``: once a subset is granted often,
        warm-ups parse its options too (``_learned_grants``), and instances
        warmed before are replaced as they come back."""
        if self._warms:
            self._grants.note(names)

    def _stale(self, instance: GuestInstance, *, in_flight: int) -> bool:
        """Warmed before the pool learned a grant: replace it rather than restore
        it, but only with no run in flight but ``in_flight`` (the one handing it
        back): the replacement is warmed only while the pool is idle, and under
        steady load a warm instance without the grant beats a cold one."""
        return instance.warmed and instance.grants != self._grants.grants and self._busy <= in_flight

    def _take(self, keep: bool) -> GuestInstance:
        if self.size:
            self.start()
            with self._cond:
                self._busy += not keep
                if self._ready:
                    instance = self._ready.popleft()
                    if keep or not self._ready:
                        # The refill thread's predicate may now hold (no run in
                        # flight, or none left); otherwise release() wakes it.
                        self._cond.notify_all()
                    return instance
                used = self._used.pop() if self._used else None  # the latest: its pages are likeliest cached
            if used is not None:
                if used.restore():
                    return used
                self._retire(used)
        elif not keep:
            with self._cond:
                self._busy += 1
        # One run on a new instance from a pool of size 0, then it is freed:
        # no need to find its memory (to restore it, or map less of it).
        return GuestInstance(self.runtime(), located=self.size > 0 or keep)

    def release(self, instance: GuestInstance, *, restore_here: bool = False) -> None:
        """Hand back an instance from ``acquire``: restored for another run if it
        can be (see ``GuestInstance.restore``), else freed.

        The refill thread restores it, unless ``restore_here``: then this thread
        does, sparing a thread switch or two. For a thread with nothing better to
        do, such as an ``arun`` worker once its caller has the result."""
        if restore_here:
            self._release_here(instance)
            return
        with self._cond:
            self._busy -= 1
            if self._thread is not None and not self._closed:
                (self._used if instance.memory is not None and instance.alive else self._retired).append(instance)
                self._cond.notify_all()
                return
        instance.close()

    def _release_here(self, instance: GuestInstance) -> None:
        """``release``, restoring on this thread; only freeing is left to the refill thread."""
        restorable = self._thread is not None and instance.memory is not None and instance.alive
        restorable = restorable and not self._stale(instance, in_flight=1)
        try:
            restored = restorable and instance.restore()
        except Exception:  # not expected; but on a worker thread it would vanish, and the instance with it
            log.exception("restoring a used instance failed; it is freed instead")
            restored = False
        with self._cond:
            self._busy -= 1
            if self._thread is not None and not self._closed:
                if restored and len(self._ready) < self.size:
                    (self._ready.appendleft if instance.warmed else self._ready.append)(instance)
                    # Wake the refill thread only if this gives it work: it sleeps through most runs.
                    if self._waiting or self._has_work():
                        self._cond.notify_all()
                else:
                    self._retired.append(instance)
                    self._cond.notify_all()
                return
        instance.close()

    def _retire(self, instance: GuestInstance) -> None:
        """Free ``instance`` on the refill thread (or here, once the pool is closed)."""
        with self._cond:
            if not self._closed:
                self._retired.append(instance)
                self._cond.notify_all()
                return
        instance.close()

    def _cold(self) -> bool:
        """A ready instance still waits for its warm-up (call with the lock held)."""
        return self._warms and bool(self._ready) and not self._ready[-1].warmed

    def _has_work(self) -> bool:
        if self._closed or self._used or len(self._retired) > _MAX_RETIRED:
            return True
        if self._busy == 0:
            return bool(self._retired) or len(self._ready) < self.size or self._cold()
        return self.size > 0 and not self._ready  # runs in flight: only a dry pool is worth the churn

    def close(self) -> None:
        """Stop refilling and free every instance the pool holds."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._cond:
            doomed = list(self._ready) + self._retired + self._used
            self._ready.clear()
            self._retired.clear()
            self._used.clear()
        for instance in doomed:
            instance.close()

    def _refill(self) -> None:
        failed_warm_ups = 0
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work)
                if self._closed:
                    return
                retired, self._retired = self._retired, []
                used = self._used.pop() if self._used else None
            for instance in retired:
                instance.close()
            if used is not None:
                self._put_back(used)
                continue
            with self._cond:
                missing = len(self._ready) < self.size
                # Warm only while idle; the instance leaves the pool meanwhile.
                cold = None if missing or self._busy or not self._cold() else self._ready.pop()
            if missing:
                try:
                    instance = GuestInstance(self.runtime())
                except BaseException as exc:  # the build or instantiation fails: tell waiters, stop
                    log.error("could not fill the instance pool", exc_info=exc)
                    self._fail(exc)
                    return
                with self._cond:
                    self._ready.append(instance)
                    self._cond.notify_all()
            elif cold is not None:
                try:
                    cold.warm(*self._tools, limits=self._limits, grants=self._grants.grants)
                    failed_warm_ups = 0
                except BaseException as exc:  # this instance only: drop it and go on...
                    cold.close()
                    failed_warm_ups += 1
                    log.warning("an instance failed its warm-up and was discarded: %s", exc)
                    if failed_warm_ups >= _MAX_FAILED_WARM_UPS:  # ...unless every one does: the guest is broken
                        self._fail(broken_guest(exc, failed_warm_ups) if isinstance(exc, WasmtimeError) else exc)
                        return
                    continue
                with self._cond:
                    self._ready.appendleft(cold)
                    self._cond.notify_all()

    def _put_back(self, used: GuestInstance) -> None:
        """Restore a used instance into the pool (first in line if it is warm), or free it."""
        if not self._stale(used, in_flight=0) and used.restore():
            with self._cond:
                if len(self._ready) < self.size and not self._closed:
                    (self._ready.appendleft if used.warmed else self._ready.append)(used)
                    self._cond.notify_all()
                    return
        used.close()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._failure = exc
            self._cond.notify_all()
