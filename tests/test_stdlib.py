"""What the guest's standard library has: the build preloads it (see
wasm/guest/guest_preload.py); anything not imported at build time is absent."""

from __future__ import annotations

import pytest

from runtime import Sandbox

AVAILABLE = [
    "json",
    "re",
    "math",
    "datetime",
    "zoneinfo",
    "time",
    "calendar",
    "collections",
    "itertools",
    "functools",
    "operator",
    "statistics",
    "decimal",
    "fractions",
    "random",
    "string",
    "textwrap",
    "unicodedata",
    "heapq",
    "bisect",
    "dataclasses",
    "typing",
    "enum",
    "copy",
    "pprint",
    "base64",
    "binascii",
    "hashlib",
    "hmac",
    "secrets",
    "csv",
    "io",
    "difflib",
    "uuid",
    "urllib.parse",
    "html",
    "ipaddress",
    "asyncio",
    "abc",
    "array",
    "ast",
    "colorsys",
    "contextlib",
    "contextvars",
    "email.utils",
    "graphlib",
    "gzip",
    "inspect",
    "keyword",
    "numbers",
    "shlex",
    "struct",
    "tomllib",
    "traceback",
    "types",
    "weakref",
    "xml.etree.ElementTree",
    "zlib",
    "html.parser",
]

UNAVAILABLE = ["sqlite3", "lzma", "bz2", "ssl", "ctypes", "multiprocessing"]


@pytest.mark.parametrize("module", AVAILABLE)
def test_importable(sandbox: Sandbox, module: str) -> None:
    r = sandbox.run(f"import {module}\n{module}.__name__")
    assert r.ok, r.error
    assert r.value == module


@pytest.mark.parametrize("module", UNAVAILABLE)
def test_not_importable(sandbox: Sandbox, module: str) -> None:
    r = sandbox.run(f"import {module}")
    assert r.error is not None
    assert r.error.type in {"ModuleNotFoundError", "ImportError"}


def test_stdlib_works_offline(sandbox: Sandbox) -> None:
    r = sandbox.run(
        "import zoneinfo, datetime, hashlib, decimal, uuid, re\n"
        "paris = datetime.datetime(2026, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo('Europe/Paris'))\n"
        "[paris.utcoffset().seconds, hashlib.sha256(b'x').hexdigest()[:8], str(decimal.Decimal('1.1') * 3),\n"
        " uuid.UUID(int=5).hex[-2:], re.sub(r'\\d', '#', 'a1b2'), 'Europe/Paris' in zoneinfo.available_timezones()]"
    )
    assert r.value == [7200, "2d711642", "3.3", "05", "a#b#", True]


def test_clocks_and_randomness(sandbox: Sandbox) -> None:
    r = sandbox.run(
        "import time, random, secrets\n"
        "t0 = time.monotonic(); time.sleep(0.05); slept = time.monotonic() - t0\n"
        "[0.04 < slept < 1, time.time() > 1.7e9, 0 <= random.random() < 1, len(secrets.token_hex(8))]"
    )
    assert r.value == [True, True, True, 16]


def test_random_differs_between_runs(sandbox: Sandbox) -> None:
    draws = {sandbox.run("import random\nrandom.getrandbits(64)").value for _ in range(3)}
    assert len(draws) == 3
