"""The warm pool: filled in the background, refilled after runs and sessions."""

from __future__ import annotations

import pytest

from runtime import GuestBuildError, Sandbox


def test_pool_fills_and_refills_after_runs() -> None:
    with Sandbox(pool_size=2) as sb:
        assert sb.wait_ready(timeout=60)
        for _ in range(5):
            assert sb.run("1 + 1").value == 2
        assert sb.wait_ready(timeout=60)


def test_pool_refills_after_a_session_takes_an_instance() -> None:
    with Sandbox(pool_size=2) as sb:
        assert sb.wait_ready(timeout=60)
        session = sb.session()  # takes an instance for good: nothing is released
        assert sb.wait_ready(timeout=60)
        assert session.run("40 + 2").value == 42
        session.close()


def test_pool_size_zero_instantiates_per_run() -> None:
    with Sandbox(pool_size=0) as sb:
        assert sb.wait_ready(timeout=1)  # nothing to wait for
        assert sb.run("6 * 7").value == 42


@pytest.mark.parametrize("size", [-1, 1.5, True], ids=["negative", "float", "bool"])
def test_invalid_pool_size(size: object) -> None:
    with pytest.raises(ValueError, match="pool size"):
        Sandbox(pool_size=size)  # type: ignore[arg-type]


def test_a_failed_warm_up_costs_one_instance_not_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmtime import WasmtimeError

    from runtime._instance import GuestInstance

    real_warm = GuestInstance.warm
    failures = iter([True])

    def flaky_warm(self: GuestInstance, *args: object, **kwargs: object) -> None:
        if next(failures, False):
            raise WasmtimeError("injected warm-up trap")
        real_warm(self, *args, **kwargs)

    monkeypatch.setattr(GuestInstance, "warm", flaky_warm)
    with Sandbox(pool_size=2) as sb:
        assert sb.wait_ready(timeout=60)
        assert sb.run("1 + 1").value == 2


def test_a_guest_that_never_warms_up_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmtime import WasmtimeError

    from runtime._instance import GuestInstance

    def broken_warm(self: GuestInstance, *args: object, **kwargs: object) -> None:
        raise WasmtimeError("injected warm-up trap")

    monkeypatch.setattr(GuestInstance, "warm", broken_warm)
    with Sandbox(pool_size=2) as sb:
        with pytest.raises(GuestBuildError) as info:
            sb.wait_ready(timeout=60)
        assert isinstance(info.value.__cause__, WasmtimeError)
        assert sb.run("1 + 1").value == 2  # runs instantiate on the spot meanwhile


def test_the_epoch_ticker_idles_when_nothing_runs() -> None:
    import time

    from runtime._run_state import RUNNING

    with Sandbox(pool_size=0) as sb:
        assert sb.run("1 + 1").value == 2
    deadline = time.monotonic() + 10  # other tests' pools may still be warming up in the background
    while RUNNING.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not RUNNING.is_set()  # so the ticker thread is blocked, not waking 200 times a second


def test_a_sandbox_dropped_without_close_releases_its_pool() -> None:
    import gc
    import threading
    import time

    def refill_threads() -> int:
        return sum(t.name == "otc-pool" for t in threading.enumerate())

    before = refill_threads()
    sb = Sandbox(pool_size=2)
    assert sb.wait_ready(timeout=60)
    assert refill_threads() == before + 1
    del sb
    gc.collect()
    deadline = time.monotonic() + 10
    while refill_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert refill_threads() == before


def test_an_unexpected_warm_up_failure_is_reported_not_a_dead_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime._instance import GuestInstance

    def broken_warm(self: GuestInstance, *args: object, **kwargs: object) -> None:
        raise RuntimeError("injected bug")

    monkeypatch.setattr(GuestInstance, "warm", broken_warm)
    with Sandbox(pool_size=1) as sb, pytest.raises(RuntimeError, match="injected bug"):
        sb.wait_ready(timeout=60)  # without the report, this would wait out its timeout


def test_ready_interpreters_follows_the_pool() -> None:
    sb = Sandbox(pool_size=2)
    assert sb.wait_ready(timeout=60)
    assert sb.ready_interpreters == 2
    session = sb.session()  # takes one for good; the refill replaces it
    assert sb.wait_ready(timeout=60)
    assert sb.ready_interpreters == 2
    session.close()
    sb.close()
    assert sb.ready_interpreters == 0  # closing freed them
    assert Sandbox(pool_size=0).ready_interpreters == 0


def test_a_pool_that_was_drained_hands_out_cold_instances_then_warms_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from runtime._instance import GuestInstance

    real_warm = GuestInstance.warm
    warming = threading.Event()
    proceed = threading.Event()

    def slow_warm(self: GuestInstance, *args: object, **kwargs: object) -> None:
        warming.set()
        proceed.wait(30)
        real_warm(self, *args, **kwargs)

    monkeypatch.setattr(GuestInstance, "warm", slow_warm)
    with Sandbox(pool_size=2) as sb:
        assert warming.wait(60)  # filled with cold instances first, now warming one of them
        assert sb.run("6 * 7").value == 42  # runs meanwhile on a cold instance: correct, just slower
        assert not sb.wait_ready(timeout=0.05)  # not ready until every instance is warmed
        proceed.set()
        assert sb.wait_ready(timeout=60)
        assert sb.ready_interpreters == 2


def test_arun_hands_the_result_back_before_its_worker_restores_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading

    from runtime._instance import GuestInstance
    from runtime._pool import InstancePool

    real_restore = GuestInstance.restore
    restoring = threading.Event()
    proceed = threading.Event()
    restored_on: list[str] = []

    def held_restore(self: GuestInstance) -> bool:
        restoring.set()
        proceed.wait(30)
        restored_on.append(threading.current_thread().name)
        return real_restore(self)

    refill_restores: list[GuestInstance] = []
    real_put_back = InstancePool._put_back

    def put_back(pool: InstancePool, used: GuestInstance) -> None:
        refill_restores.append(used)
        real_put_back(pool, used)

    monkeypatch.setattr(InstancePool, "_put_back", put_back)
    with Sandbox(pool_size=2) as sb:  # one left while the run has the other: no new one is made
        assert sb.wait_ready(timeout=60)
        monkeypatch.setattr(GuestInstance, "restore", held_restore)
        instance = sb._pool(sb.limits)._ready[0]  # the one the run will take

        async def main() -> int:
            result = await sb.arun("6 * 7")
            assert await asyncio.to_thread(restoring.wait, 30)
            assert not restored_on  # the result came back while its instance's restore is held
            return int(result.value)

        assert asyncio.run(main()) == 42
        proceed.set()
        assert sb.wait_ready(timeout=60)  # woken by the worker's hand-back, not by a timeout
        assert instance in sb._pool(sb.limits)._ready  # restored and pooled again
    assert restored_on and all(name.startswith("otc-run") for name in restored_on)
    assert not refill_restores  # the refill thread restored nothing


def test_a_restore_that_raises_on_a_worker_frees_the_instance(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from runtime._instance import GuestInstance

    def broken_restore() -> bool:
        raise RuntimeError("restore broke")

    with Sandbox(pool_size=2) as sb:
        assert sb.wait_ready(timeout=60)
        taken: GuestInstance = sb._pool(sb.limits)._ready[0]
        monkeypatch.setattr(taken, "restore", broken_restore)  # this instance's only: warm-ups restore too
        assert asyncio.run(sb.arun("6 * 7")).value == 42
        assert sb.wait_ready(timeout=60)  # refilled with a new instance
        assert taken not in sb._pool(sb.limits)._ready and not taken.alive  # freed, not pooled
    assert "restoring a used instance failed" in caplog.text
