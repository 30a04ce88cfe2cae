"""The running server against its own OpenAPI schema (schemathesis): no 500s, answers as documented.

Bounded: ``MAX_EXAMPLES`` generated cases per operation (plus schemathesis'
coverage cases), sent over loopback to a server of this module's own, with a
token schemathesis knows (so that it can also leave it out, on purpose).
The schema comes from an app made at import time: schemathesis' lazy
``from_fixture`` does not work with this pytest.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from server_harness import CEILINGS, HTTP_TOOLS, Backend

from runtime.server import BackgroundServer, Identity, ServerConfig, create_app

MAX_EXAMPLES = 30
TOKEN = secrets.token_urlsafe(24)


class _NoVerifier:
    async def verify(self, token: str) -> Identity | None:
        return None


_config = ServerConfig(tools=("server_tools:TOOLS",), http_tools=HTTP_TOOLS, ceilings=CEILINGS)
schema = schemathesis.openapi.from_dict(create_app(_config, verifier=_NoVerifier()).openapi())


@schema.auth()
class Bearer:
    """The module's token, on every case schemathesis does not mean to leave unauthenticated."""

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return TOKEN

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[str]:
    tokens = tmp_path_factory.mktemp("schemathesis") / "tokens.txt"
    tokens.write_text(f"{TOKEN} schemathesis\n")
    config = _config.replace(port=0, token_file=Path(tokens), execution_rate=None, tool_call_rate=None, pool_size=2)
    with BackgroundServer(config, transport=backend.transport) as live:
        yield live.url


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_schema(case: schemathesis.Case, server: str) -> None:
    response = case.call_and_validate(base_url=server, timeout=30)
    assert response.status_code < 500
