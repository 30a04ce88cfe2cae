"""The daemon's and the client's public API: ``__all__`` complete and honest; no serve extra needed to import."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

import runtime.client
import runtime.server

PACKAGES = [runtime.server, runtime.client]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_sorted_and_resolves(package: types.ModuleType) -> None:
    names = package.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(package, name), name


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_public_names_are_all_exported(package: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(package.__all__)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_private_modules_declare_all(package: types.ModuleType) -> None:
    modules = list(pkgutil.iter_modules(package.__path__))
    assert modules
    for info in modules:
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        assert isinstance(getattr(module, "__all__", None), list), info.name


def test_runtime_and_the_client_import_without_the_serve_extra() -> None:
    script = (
        "import sys\n"
        "for name in ('fastapi', 'starlette', 'uvicorn'):\n"
        "    sys.modules[name] = None  # importing any of them would fail\n"
        "import runtime, runtime.client\n"
        "print(runtime.client.Client.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "Client\n"), done.stderr
