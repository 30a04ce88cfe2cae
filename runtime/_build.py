"""Builds the guest component from ``wasm/`` and caches it by content hash.

A user never runs componentize-py: the first use of the runtime builds the
component (10-15 s, in a subprocess so its ~500 MB peak is not ours) and
every later use, in any process, finds it in the cache. The cache key covers
the WIT world, the guest sources and the versions of everything that shapes
the build, so an edit to any of them rebuilds. Each guest with its compiled
artifacts takes ~100 MB, so a build keeps only the guests used last besides
its own (``_KEEP_OTHERS``) and removes the others' files, and compiling an
artifact removes the guest's artifacts unused for a week (another wasmtime's).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ._constant_globals import inline_constant_globals
from ._errors import GuestBuildError
from ._forwarders import forward_exports
from ._immortal import immortalize
from ._inlining import inline_small_functions

__all__ = ["cache_dir", "guest_component", "guest_source_dir", "mark_used", "prune_compiled"]

log = logging.getLogger("otc.build")

# Bump when the build recipe changes in a way the inputs do not show.
_RECIPE = "4"  # 2: snapshot objects immortal; 3: link-time constants inlined; 4: small functions inlined
_WORLD = "sandbox"
_ENTRY = "guest_main"
_BUILD_TIMEOUT = 600.0
_STEPS = (
    "_immortal.py", "_constant_globals.py", "_inlining.py", "_devirtualize.py", "_binaryen.py", "_forwarders.py",
    "_wasm_layout.py", "_wasm_binary.py",
)  # fmt: skip
_KEEP_OTHERS = 2
"""Guests a build leaves in the cache besides its own: the ones used last (another
version of the package, another checkout), so going back to them costs no rebuild."""
_KEEP_COMPILED_FOR = 7 * 24 * 3600.0
"""Seconds a guest's unused compiled artifact (another wasmtime's, another flavour's) is kept."""


def guest_source_dir() -> Path:
    """The ``wasm/`` directory: next to the package in a checkout, inside it in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_wasm", here.parent / "wasm"):
        if (candidate / "wit").is_dir() and (candidate / "guest").is_dir():
            return candidate
    raise GuestBuildError(f"guest sources not found next to {here} (expected a wasm/ directory)")


def cache_dir() -> Path:
    """Where built components live: ``$OTC_CACHE_DIR``, else the user cache dir."""
    root = os.environ.get("OTC_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "otc-runtime"
    # Compiled artifacts are loaded as native code: keep the directory private.
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _inputs(source: Path) -> list[Path]:
    return sorted(
        p for sub in ("wit", "guest") for p in (source / sub).rglob("*") if p.is_file() and p.suffix in {".wit", ".py"}
    )


def _build_key(source: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"recipe={_RECIPE}\n".encode())
    for dist in ("componentize-py", "tzdata", "icpp-binaryen"):  # binaryen: optional (the speed extra)
        digest.update(f"{dist}={_version(dist)}\n".encode())
    for step in _STEPS:  # the steps after componentize-py
        digest.update(Path(__file__).with_name(step).read_bytes())
    for path in _inputs(source):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise builders across processes (two test workers, two daemons)."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def guest_component() -> Path:
    """Path of the built guest component, building it first if it is not cached.

    Raises ``GuestBuildError`` when the build fails; its ``log`` has the output.
    """
    source = guest_source_dir()
    key = _build_key(source)
    target = cache_dir() / f"guest-{key}.wasm"
    if mark_used(target):
        return target
    with file_lock(cache_dir() / f"guest-{key}.lock"):
        if not target.exists():  # another process may have built it meanwhile
            _componentize(source, target)
    _prune(cache_dir(), keep=key)
    return target


def mark_used(path: Path) -> bool:
    """Note that this process uses the guest or compiled artifact at ``path``
    (its access time: pruning keeps what was used last); False if it does not exist."""
    try:
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))  # in ns: the mtime stays exact
    except FileNotFoundError:
        return False
    except OSError:
        pass  # a read-only cache: used all the same
    return True


def _prune(cache: Path, *, keep: str) -> None:
    """Remove the files of every guest in ``cache`` but ``keep`` and the
    ``_KEEP_OTHERS`` used last. A guest whose lock is held (being built, or its
    artifact being compiled) is left alone; a process still running one that
    is removed keeps its mappings (Linux frees a file once unmapped)."""
    others = []
    for guest in cache.glob("guest-*.wasm"):
        key = guest.stem.removeprefix("guest-")
        if key != keep:
            with contextlib.suppress(OSError):
                others.append((guest.stat().st_atime, key))
    for _, key in sorted(others, reverse=True)[_KEEP_OTHERS:]:
        files = list(cache.glob(f"guest-{key}[-.]*"))  # its .wasm, its .cwasm files, their locks
        with contextlib.ExitStack() as held:
            try:
                for lock in (path for path in files if path.suffix == ".lock"):
                    fcntl.flock(held.enter_context(open(lock, "rb")), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # in use
            for path in files:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:  # a cache this process may read but not prune: still usable
                    log.warning("could not remove %s from the guest cache: %s", path, exc)
                    return
        log.info("removed the cached guest %s (not used lately)", key)


def prune_compiled(compiled: Path, guest: Path) -> None:
    """Remove ``guest``'s other compiled artifacts (another wasmtime version's,
    another engine flavour's) that no process has used for ``_KEEP_COMPILED_FOR``
    seconds, unless one is being compiled. Call after compiling ``compiled``."""
    cutoff = time.time() - _KEEP_COMPILED_FOR
    for other in compiled.parent.glob(f"{guest.stem}-*.cwasm"):
        if other == compiled:
            continue
        with contextlib.suppress(OSError), open(other.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if other.stat().st_atime < cutoff:
                other.unlink()
                other.with_suffix(".lock").unlink()
                log.info("removed the compiled artifact %s (not used lately)", other.name)


def _componentize(source: Path, target: Path) -> None:
    import tzdata  # type: ignore[import-untyped]  # the guest's offline tz database, read at build time

    log.warning("building the sandbox guest component (first use only, about a minute)...")
    with tempfile.TemporaryDirectory(prefix="otc-build-") as tmp:
        app = Path(tmp) / "app"
        shutil.copytree(source / "guest", app, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(Path(tzdata.__file__).parent, app / "tzdata", ignore=shutil.ignore_patterns("__pycache__"))
        output = Path(tmp) / "guest.wasm"
        command = [
            sys.executable, "-c",
            "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
            "-d", str(source / "wit"), "-w", _WORLD, "componentize", _ENTRY,
            "-p", str(app), "-o", str(output),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        try:
            done = subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, timeout=_BUILD_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GuestBuildError(f"could not run componentize-py: {exc}") from exc
        if done.returncode != 0 or not output.exists():
            raise GuestBuildError(
                f"componentize-py failed with exit status {done.returncode}", log=done.stdout + done.stderr
            )
        component = bytearray(output.read_bytes())
        stats = immortalize(component)
        component, constants = inline_constant_globals(component)
        component, inlined = inline_small_functions(component)
        component, forwarded = forward_exports(component)
        staged = target.with_suffix(".tmp")
        staged.write_bytes(component)
        os.replace(staged, target)
    log.warning(
        "guest component built: %s (%d of %d snapshot objects immortal, %d link-time constants inlined, "
        "small functions inlined in %d modules, %d indirect calls given direct paths, "
        "%d exports re-pointed past forwarders)",
        target, stats.patched, stats.listed, constants.imports, inlined.modules, inlined.direct_calls,
        forwarded.exports,
    )  # fmt: skip
