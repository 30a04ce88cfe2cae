"""Who is calling: bearer tokens in, an ``Identity`` out.

The token is the caller's credential for the HTTP tool backends too, so it
is kept on the host: ``Identity`` hides it from ``repr``, the audit log and
the metrics only ever see the name, and the sandbox only ever sees tools.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._errors import ConfigError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "AuthenticationFailed",
    "Identity",
    "StaticTokenVerifier",
    "TokenVerifier",
    "bearer_token",
]

MIN_TOKEN_LENGTH = 16
"""Shortest token a ``StaticTokenVerifier`` accepts in its file."""

# RFC 6750's b64token: what may follow "Bearer " in an Authorization header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller.

    ``token`` is the credential the caller presented; HTTP tool backends are
    called with it. It is left out of ``repr`` and comparisons so that it does
    not end up in logs by accident.
    """

    name: str
    """Who the caller is: what the audit log records."""

    token: str = field(repr=False, compare=False)
    """The caller's bearer token, held on the host, never sent to the sandbox."""


@runtime_checkable
class TokenVerifier(Protocol):
    """Resolves a bearer token to an ``Identity`` (plug in your own: OAuth
    introspection, JWT validation, a database)."""

    async def verify(self, token: str) -> Identity | None:
        """The identity ``token`` belongs to, or None when it is not valid."""
        ...


class AuthenticationFailed(Exception):
    """Raised by ``bearer_token`` (and the app's auth dependency): answered 401.

    ``error`` is the RFC 6750 error code for ``WWW-Authenticate``: empty when
    no credentials were sent, ``invalid_request`` for a malformed header,
    ``invalid_token`` for a token nobody issued."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def bearer_token(header: str | None) -> str:
    """The token in an ``Authorization: Bearer <token>`` header value.

    Raises ``AuthenticationFailed`` when the header is missing, uses another
    scheme, or holds something that is not a bearer token."""
    if header is None or not header.strip():
        raise AuthenticationFailed("", "missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
        raise AuthenticationFailed("invalid_request", "malformed Authorization header: expected 'Bearer <token>'")
    return token


class StaticTokenVerifier:
    """Tokens from a fixed table, usually a file of ``token name`` lines.

    Usage::

        verifier = StaticTokenVerifier.from_file("tokens.txt")
        # tokens.txt:
        #   # one caller per line: the token, whitespace, the caller's name
        #   3f6c1e0b8a7d4c2e9f01  alice
        #   9a8b7c6d5e4f3a2b1c0d  ci-bot

    Every lookup compares the given token with every known one in constant
    time (``hmac.compare_digest``), so timing reveals neither a prefix nor
    which entry matched.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        """``tokens`` maps each token to its caller's name. Raises ``ConfigError``
        for a token that is too short or not a bearer token, or an empty name."""
        self._entries: list[tuple[bytes, str]] = []
        for token, name in tokens.items():
            if len(token) < MIN_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
                raise ConfigError(
                    f"a token for {name!r} is invalid: use at least {MIN_TOKEN_LENGTH} characters from "
                    "letters, digits and -._~+/ (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
                )
            if not name or len(name) > _MAX_NAME or not name.isprintable():
                raise ConfigError(
                    f"caller name {name[:_MAX_NAME]!r} is invalid: use 1-{_MAX_NAME} printable characters"
                )
            self._entries.append((token.encode("ascii"), name))

    @classmethod
    def from_file(cls, path: str | Path) -> StaticTokenVerifier:
        """Read ``token name`` lines (blank lines and ``#`` comments skipped).
        Raises ``ConfigError`` naming the file and line of a problem (never the token)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the token file {path}: {exc}") from exc
        tokens: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            parts = stripped.split(None, 1)
            if len(parts) != 2:
                raise ConfigError(f"{path}, line {number}: expected 'token name'")
            token, name = parts[0], parts[1].strip()
            if token in tokens:
                raise ConfigError(f"{path}, line {number}: this token is already given to {tokens[token]!r}")
            tokens[token] = name
        if not tokens:
            raise ConfigError(f"the token file {path} has no tokens: nobody could call the server")
        try:
            return cls(tokens)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(self, token: str) -> Identity | None:
        """The identity of ``token``, or None; every entry is compared, whatever matches."""
        try:
            given = token.encode("ascii")
        except UnicodeEncodeError:
            return None
        found: str | None = None
        for known, name in self._entries:
            if hmac.compare_digest(known, given):
                found = name
        return None if found is None else Identity(found, token)

    def __repr__(self) -> str:
        return f"StaticTokenVerifier({len(self._entries)} tokens)"
