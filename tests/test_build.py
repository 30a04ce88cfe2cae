"""The guest is built on first use and cached by content; a second process
loads the compiled artifact instead of compiling."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import Sandbox, _build, cache_dir
from runtime._build import _build_key, guest_source_dir


def test_build_key_follows_the_guest_sources(tmp_path: Path) -> None:
    copy = tmp_path / "wasm"
    shutil.copytree(guest_source_dir(), copy)
    before = _build_key(copy)
    assert _build_key(copy) == before
    runner = copy / "guest" / "guest_runner.py"
    runner.write_text(runner.read_text() + "\n# changed\n")
    assert _build_key(copy) != before
    (copy / "wit" / "extra.wit").write_text("// new\n")
    assert _build_key(copy) != before


def test_installing_binaryen_later_rebuilds_the_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest built without the speed extra is not kept once it is installed."""
    with_binaryen = _build_key(guest_source_dir())
    real = _build._version
    monkeypatch.setattr(_build, "_version", lambda dist: "none" if dist == "icpp-binaryen" else real(dist))
    assert _build_key(guest_source_dir()) != with_binaryen


def test_second_process_reuses_the_compiled_artifact(sandbox: Sandbox) -> None:
    assert sandbox.run("1").ok  # this process has built and compiled everything
    artifacts = {p: p.stat().st_mtime_ns for p in cache_dir().iterdir() if p.suffix in {".wasm", ".cwasm"}}
    assert any(p.suffix == ".cwasm" for p in artifacts)
    script = "from runtime import Sandbox\nprint(Sandbox(pool_size=0).run('6 * 7').value)"
    (guest,) = (p for p in artifacts if p.name == f"guest-{_build_key(guest_source_dir())}.wasm")
    os.utime(guest, ns=(0, artifacts[guest]))  # as if last used long ago
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    assert "building" not in done.stderr  # nothing was rebuilt
    after = {p: p.stat().st_mtime_ns for p in cache_dir().iterdir() if p.suffix in {".wasm", ".cwasm"}}
    assert after == artifacts  # nothing was rewritten either
    assert guest.stat().st_atime > 0  # the new process marked it used, for pruning (see the next test)


def test_a_build_keeps_its_guest_and_the_two_used_last(tmp_path: Path) -> None:
    now = time.time()
    keys = {name: name * 24 for name in "abcde"}

    def cached(name: str, used_ago: float) -> None:
        files = [f"guest-{keys[name]}{end}" for end in (".wasm", ".lock", "-0123.cwasm", "-0123.lock", "-4567.cwasm")]
        for file in files:
            (tmp_path / file).write_bytes(b"")
        os.utime(tmp_path / files[0], (now - used_ago, now - 86400))

    for name, used_ago in zip("abcde", (0, 60, 7200, 3600, 9000), strict=True):
        cached(name, used_ago)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("kept")
    with open(tmp_path / f"guest-{keys['e']}-0123.lock", "rb") as busy:
        fcntl.flock(busy, fcntl.LOCK_EX)  # another process compiles e's artifact right now
        _build._prune(tmp_path, keep=keys["a"])

    left = {path.name.split("-")[1].split(".")[0] for path in tmp_path.glob("guest-*")}
    # a: the new build; b and d: used last; c: used longer ago, so gone, all five files; e: busy.
    assert left == {keys["a"], keys["b"], keys["d"], keys["e"]}
    assert len(list(tmp_path.glob(f"guest-{keys['e']}*"))) == 5
    assert unrelated.read_text() == "kept"


def test_compiling_removes_the_guests_artifacts_unused_for_a_week(tmp_path: Path) -> None:
    guest = tmp_path / f"guest-{'a' * 24}.wasm"
    names = ("new", "recent", "stale", "busy")
    artifacts = {name: tmp_path / f"{guest.stem}-{name}.cwasm" for name in names}
    other_guest = tmp_path / f"guest-{'b' * 24}-old.cwasm"
    for path in (guest, *artifacts.values(), other_guest):
        path.write_bytes(b"")
    week = 7 * 24 * 3600
    for name, age in zip(names, (0, week - 3600, week + 3600, week + 3600), strict=True):
        os.utime(artifacts[name], (time.time() - age, time.time() - age))
    os.utime(other_guest, (time.time() - 2 * week, time.time() - 2 * week))
    with open(artifacts["busy"].with_suffix(".lock"), "a+b") as busy:
        fcntl.flock(busy, fcntl.LOCK_EX)  # another process compiles it right now
        _build.prune_compiled(artifacts["new"], guest)

    assert {path.name for path in tmp_path.glob("*.cwasm")} == {
        artifacts[name].name for name in ("new", "recent", "busy")
    } | {other_guest.name}  # another guest's artifacts are the guest pruning's business
    assert not artifacts["stale"].with_suffix(".lock").exists()


def test_a_cache_that_cannot_be_pruned_is_still_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in "abcd":
        (tmp_path / f"guest-{name * 24}.wasm").write_bytes(b"")
        os.utime(tmp_path / f"guest-{name * 24}.wasm", (time.time() - ord(name), time.time()))

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    _build._prune(tmp_path, keep="a" * 24)  # logs instead of raising

    assert len(list(tmp_path.glob("guest-*.wasm"))) == 4


@pytest.mark.skipif(sys.platform != "linux", reason="permission bits")
def test_cache_dir_is_private() -> None:
    assert cache_dir().stat().st_mode & 0o077 == 0


def test_a_run_allocates_past_the_snapshot_heap_not_in_its_gaps(sandbox: Sandbox) -> None:
    """The build fills the snapshot's free gaps: a run's new objects land together
    past the snapshot's heap instead of on pages scattered across it (each a
    copy-on-write fault). Without the filling, all 2,000 land in gaps."""
    code = (
        "import guest_warmup\n"
        "filled_to = max(map(id, guest_warmup._FILLER))\n"
        "fresh = [object() for _ in range(2000)]\n"
        "sum(id(o) < filled_to for o in fresh)"
    )
    result = sandbox.run(code)
    assert result.ok, result.error
    # A few reuse what the run itself freed on its way in (130 when written).
    assert result.value < 400
