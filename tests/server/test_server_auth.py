"""Bearer-token authentication: who may call, and what a refusal looks like."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from server_harness import AsgiHarness, Auth, Backend, Send

from runtime.server import ConfigError, Identity, ServerConfig, StaticTokenVerifier, create_app
from runtime.server._auth import AuthenticationFailed, bearer_token

PROTECTED = [
    ("POST", "/v1/executions", {"json": {"code": "1"}}),
    ("POST", "/v1/executions/stream", {"json": {"code": "1"}}),
    ("GET", "/v1/tools", {}),
]

BAD_HEADERS = {
    "missing": ({}, None),
    "empty": ({"Authorization": ""}, None),
    "basic-scheme": ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, "invalid_request"),
    "no-token": ({"Authorization": "Bearer"}, "invalid_request"),
    "two-words": ({"Authorization": "Bearer abc def"}, "invalid_request"),
    "bad-characters": ({"Authorization": "Bearer abc$%^&*()"}, "invalid_request"),
    "unknown-token": ({"Authorization": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "invalid_token"),
}


@pytest.mark.parametrize(("method", "url", "kwargs"), PROTECTED, ids=[url for _, url, _ in PROTECTED])
@pytest.mark.parametrize(("headers", "error"), list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_requests_without_a_valid_token_are_401(
    send: Send, method: str, url: str, kwargs: dict[str, object], headers: dict[str, str], error: str | None
) -> None:
    response = send(method, url, headers=headers, **kwargs)

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="otc"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert isinstance(response.json()["detail"], str)


def test_a_valid_token_of_another_case_is_refused(send: Send, tokens: dict[str, str]) -> None:
    swapped = tokens["alice"].swapcase()
    response = send("POST", "/v1/executions", json={"code": "1"}, headers={"Authorization": f"Bearer {swapped}"})
    assert response.status_code == 401


def test_the_scheme_is_case_insensitive(send: Send, tokens: dict[str, str]) -> None:
    response = send("POST", "/v1/executions", json={"code": "1"}, headers={"Authorization": f"bearer {tokens['bob']}"})
    assert response.json()["value"] == 1


@pytest.mark.parametrize("url", ["/healthz", "/metrics", "/openapi.json"])
def test_probes_need_no_token(send: Send, url: str) -> None:
    assert send("GET", url).status_code == 200


def test_auth_is_checked_before_the_body(send: Send) -> None:
    # An anonymous caller learns nothing about what the body should be.
    response = send("POST", "/v1/executions", content=b"not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc.DEF-123_~+/==", "abc.DEF-123_~+/=="), ("  Bearer   tok  ", "tok"), ("BEARER x", "x")],
    ids=["b64token", "spaces", "upper"],
)
def test_bearer_token_parsing(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize("header", [None, "", "Token abc", "Bearer a b", "Bearer é"], ids=repr)
def test_bearer_token_refusals(header: str | None) -> None:
    with pytest.raises(AuthenticationFailed):
        bearer_token(header)


def test_identity_never_shows_its_token() -> None:
    identity = Identity("alice", "s3cret-token-value-123456")
    assert "s3cret" not in repr(identity)
    assert "s3cret" not in str(identity)
    assert identity == Identity("alice", "another-token-entirely-0000")


def test_static_verifier_reads_a_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text("# callers\n\n0123456789abcdef0123  alice smith\n  fedcba9876543210fedc ci-bot\n")
    verifier = StaticTokenVerifier.from_file(path)

    found = asyncio.run(verifier.verify("0123456789abcdef0123"))
    assert found is not None and (found.name, found.token) == ("alice smith", "0123456789abcdef0123")
    assert asyncio.run(verifier.verify("fedcba9876543210fedc")) == Identity("ci-bot", "")
    assert asyncio.run(verifier.verify("0123456789abcdef012")) is None
    assert asyncio.run(verifier.verify("ünïcode-token-0000000")) is None
    assert "0123" not in repr(verifier)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no tokens"),
        ("onlyonefield\n", "line 1"),
        ("short alice\n", "at least 16"),
        ("0123456789abcdef0123 alice\n0123456789abcdef0123 bob\n", "already given to 'alice'"),
        ("0123456789abcdef01$3 alice\n", "invalid"),
    ],
    ids=["empty", "one-field", "short", "duplicate", "bad-characters"],
)
def test_static_verifier_refuses_bad_files(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=complaint) as caught:
        StaticTokenVerifier.from_file(path)
    assert "0123456789abcdef" not in str(caught.value)


def test_missing_token_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the token file"):
        StaticTokenVerifier.from_file(tmp_path / "absent.txt")


class ExplodingVerifier:
    """A verifier that fails: the server must answer a generic 500, and log the detail."""

    async def verify(self, token: str) -> Identity | None:
        raise RuntimeError("db password is hunter2")


@pytest.fixture(scope="module")
def exploding(make_config: Callable[..., ServerConfig], backend: Backend) -> FastAPI:
    return create_app(make_config(), verifier=ExplodingVerifier(), transport=backend.transport)


def test_unexpected_errors_are_generic_500s(exploding: FastAPI, auth: Auth, caplog: pytest.LogCaptureFixture) -> None:
    harness = AsgiHarness(exploding)
    try:
        with caplog.at_level(logging.ERROR, logger="otc.server"):
            response = harness.request("GET", "/v1/tools", headers=auth("alice"))
    finally:
        harness.close()

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error; the incident is logged on the server"}
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert any("hunter2" in str(exc) for exc in logged)


def test_create_app_needs_a_way_to_authenticate(make_config: Callable[..., ServerConfig]) -> None:
    config = make_config(token_file=None)
    with pytest.raises(ConfigError, match="no token file and no verifier"):
        create_app(config)


def test_asgi_transport_sees_the_same_refusal(asgi: AsgiHarness) -> None:
    # The harness's client sends no header of its own.
    response = asgi.request("GET", "/v1/tools")
    assert isinstance(response, httpx.Response) and response.status_code == 401
