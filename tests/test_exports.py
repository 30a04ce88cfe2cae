"""Public API hygiene: ``__all__`` is complete and honest."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import host_functions
import runtime
import runtime.client
import runtime.llm
import runtime.llm.providers
import runtime.server

PACKAGES = [runtime, runtime.client, runtime.llm, runtime.llm.providers, runtime.server, host_functions]


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


def test_exported_objects_live_in_the_package() -> None:
    for name in runtime.__all__:
        value = getattr(runtime, name)
        if isinstance(value, (type, types.FunctionType)):  # aliases such as ValueKind live in typing
            assert value.__module__.startswith("runtime"), (name, value.__module__)
