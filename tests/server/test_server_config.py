"""``ServerConfig``, its TOML form, and loading the tools it names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from server_harness import HTTP_TOOLS

from runtime import Limits
from runtime.server import ConfigError, HttpTool, RateLimit, ServerConfig, _config, create_app
from runtime.server._http_tools import HttpToolClient
from runtime.server._tools import load_tools

FULL = """
host = "0.0.0.0"
port = 9001
token_file = "secrets/tokens.txt"
audit_log = "logs/audit.jsonl"
tools = ["server_tools:TOOLS", "server_tools:make_tools"]
pool_size = 3
worker_threads = 6
workers = 2
max_concurrent_executions = 7
max_request_bytes = 3000000
shutdown_timeout = 5

[ceilings]
timeout = 2.5
memory_mb = 64

[execution_rate]
per_second = 1.5
burst = 4

[[http_tools]]
name = "users.get"
description = "A user."
method = "GET"
url = "https://api.example.com/users/{user_id}"
parameters = { type = "object", properties = { user_id = { type = "string" } }, required = ["user_id"] }
timeout = 3.0
"""


def test_defaults() -> None:
    config = ServerConfig()
    assert (config.host, config.port, config.ceilings) == ("127.0.0.1", 8000, Limits())
    assert config.execution_rate == RateLimit(per_second=10, burst=20)
    assert config.audit_log is None and config.token_file is None
    assert config.worker_threads is None  # twice the cores, decided when the app starts
    assert config.workers == 1


def test_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(FULL)
    config = ServerConfig.from_toml(path)

    assert (config.host, config.port, config.pool_size, config.max_concurrent_executions) == ("0.0.0.0", 9001, 3, 7)
    assert (config.worker_threads, config.workers) == (6, 2)
    assert config.token_file == tmp_path / "secrets" / "tokens.txt"
    assert config.audit_log == tmp_path / "logs" / "audit.jsonl"
    assert config.tools == ("server_tools:TOOLS", "server_tools:make_tools")
    assert config.ceilings == Limits(timeout=2.5, memory_mb=64)
    assert config.execution_rate == RateLimit(per_second=1.5, burst=4)
    assert config.tool_call_rate == RateLimit(per_second=100, burst=200)  # the default, untouched
    (tool,) = config.http_tools
    assert (tool.name, tool.method, tool.timeout, tool.placeholders) == ("users.get", "GET", 3.0, ("user_id",))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("prot = 1", "unknown keys \\['prot'\\]"),
        ("port = 'x'", "port"),
        ("port = 70000", "0-65535"),
        ("[ceilings]\ntimeout = -1", "ceilings: Limits.timeout"),
        ("[ceilings]\nwall = 1", "unknown keys \\['wall'\\] in ceilings"),
        ("[execution_rate]\nper_second = 1", "execution_rate"),
        ("tools = 'a:b'", "tools must be a list"),
        ("tools = ['no-colon']", "module:attribute"),
        ("max_concurrent_executions = 0", ">= 1"),
        ("worker_threads = 0", "worker_threads=0 is invalid"),
        ("workers = 0", "workers=0 is invalid: expected an integer >= 1"),
        ("workers = 65", "workers=65 is invalid: expected at most 64"),
        ("max_request_bytes = 10", "max_code_bytes"),
        ("[[http_tools]]\nname = 'x'", "http_tools"),
        ("this is not toml", "cannot read"),
    ],
    ids=[
        "unknown-key",
        "port-type",
        "port-range",
        "bad-limit",
        "unknown-limit",
        "incomplete-rate",
        "tools-string",
        "tool-source",
        "concurrency",
        "threads",
        "no-workers",
        "too-many-workers",
        "request-cap",
        "incomplete-http-tool",
        "not-toml",
    ],
)
def test_bad_toml_is_a_config_error_naming_the_file(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "server.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=complaint) as caught:
        ServerConfig.from_toml(path)
    assert str(path) in str(caught.value)


def test_replace_validates_again() -> None:
    assert ServerConfig().replace(port=1234).port == 1234
    with pytest.raises(ConfigError):
        ServerConfig().replace(pool_size=-1)
    with pytest.raises(ConfigError):
        ServerConfig().replace(no_such_field=1)


def test_load_tools_from_every_source() -> None:
    # A factory, a single Tool, and HTTP backends.
    tools = load_tools(["server_tools:make_tools", "server_tools:weather"], HTTP_TOOLS, HttpToolClient())
    assert tools.names == ["factory.echo", "weather", *(tool.name for tool in HTTP_TOOLS)]


@pytest.mark.parametrize(
    ("sources", "http_tools", "complaint"),
    [
        (["server_tools:TOOLS", "server_tools:echo"], (), "two tools are named 'echo'"),
        (["no_such_module_xyz:TOOLS"], (), "cannot import"),
        (["server_tools:NOPE"], (), "has no attribute"),
        (["server_tools:CALLS"], (), "not a ToolSet or a Tool"),
        (["server_tools:TOOLS"], (HttpTool(name="echo", description="", method="GET", url="http://x/"),), "'echo'"),
        ([], (HttpTool(name="users", description="", method="GET", url="http://x/"), HTTP_TOOLS[0]), "conflict"),
    ],
    ids=["duplicate", "import", "attribute", "not-tools", "http-vs-python", "namespace-clash"],
)
def test_bad_tool_sources(sources: list[str], http_tools: tuple[HttpTool, ...], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_tools(sources, http_tools, HttpToolClient())


def test_create_app_reports_tool_conflicts(make_config: Callable[..., ServerConfig]) -> None:
    with pytest.raises(ConfigError, match="two tools"):
        create_app(make_config(tools=("server_tools:TOOLS", "server_tools:TOOLS")))


def test_config_is_frozen_and_keyword_only() -> None:
    config = ServerConfig()
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        ServerConfig("0.0.0.0")  # type: ignore[misc]


def test_every_field_is_documented() -> None:
    source = Path(_config.__file__).read_text()
    for name in ServerConfig.__dataclass_fields__:
        block = source.split(f"\n    {name}: ", 1)[1]
        assert block.split("\n", 1)[1].lstrip().startswith('"""'), name


def test_uvicorn_serves_with_the_c_parser_and_loop() -> None:
    """The serve extra's httptools and uvloop are what uvicorn picks (benchmarks/test_server_load.py: ~15-20 %
    more executions per second than its pure-Python h11 parser and asyncio's loop)."""
    import sys

    from runtime.server._serve import uvicorn_config

    settings = uvicorn_config(ServerConfig(), app=object())
    settings.load()
    assert settings.http_protocol_class.__name__ == "HttpToolsProtocol"
    if sys.platform != "win32":
        factory = settings.get_loop_factory()
        assert factory is not None
        assert factory.__module__ == "uvloop"
