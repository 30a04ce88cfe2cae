"""HTTP tool backends: a tool described as data, called with the caller's own token.

An ``HttpTool`` says what a script may call (name, description, JSON Schema
of the parameters) and where it goes (method, URL template). ``to_tool``
makes it a ``host_functions.Tool`` whose call:

* fills the URL template's ``{placeholders}`` with percent-encoded path
  segments (``/``, ``?``, ``#`` and ``%`` are encoded; ``.``, ``..`` and empty
  values are refused), so a value cannot leave the templated path;
* sends the other arguments as the query string (GET, DELETE) or a JSON body;
* sends ``Authorization: Bearer <the caller's token>``, taken from the run's
  context (``ToolContext.deps``, an ``Identity``) on the host: a script can do
  what its caller may do, and the token never enters the sandbox;
* returns the response's JSON; any other status fails the call with a
  ``ToolError`` carrying the status and a short excerpt of the body.

A backend that echoes the token back would hand it to the script, so every
verbatim occurrence of the caller's token in a response is replaced by
``[redacted]`` before the script sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import string
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import pydantic

from host_functions import Tool, ToolContext, ToolDefinitionError, ToolError

from ._auth import Identity
from ._errors import ConfigError

__all__ = ["HttpTool", "HttpToolClient"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_QUERY_METHODS = ("GET", "DELETE")
_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": Annotated[float, pydantic.Field(allow_inf_nan=False)],  # NaN is not JSON: never send it on
    "boolean": bool,
}
_PROPERTY_KEYS = frozenset(
    {"type", "description", "enum", "default", "items", "minimum", "maximum", "minLength", "maxLength", "pattern"}
    | {"title", "examples"}
)
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
}
_EXCERPT = 300
_REDACTED = "[redacted]"
_CONTEXT = "_ctx"  # a parameter name no tool parameter can have (they may not start with "_")


def _annotation(tool: str, name: str, schema: object) -> Any:
    """The Python type (with pydantic constraints) that validates one JSON Schema property."""
    where = f"http tool {tool!r}, parameter {name!r}"
    if not isinstance(schema, dict):
        raise ConfigError(f"{where}: the schema must be an object")
    unknown = sorted(set(schema) - _PROPERTY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unsupported JSON Schema keywords {unknown}; supported: {sorted(_PROPERTY_KEYS)}")
    kind = schema.get("type")
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values or not all(isinstance(v, (str, int, float)) for v in values):
            raise ConfigError(f"{where}: enum must be a non-empty list of strings or numbers")
        base: Any = Literal[tuple(values)]
    elif kind in _TYPES:
        base = _TYPES[kind]
    elif kind == "array":
        item = _annotation(tool, f"{name}[]", schema["items"]) if "items" in schema else Any
        base = list[item]  # type: ignore[valid-type]
    elif kind == "object":
        base = dict[str, Any]
    elif kind is None:
        base = Any
    else:
        raise ConfigError(f"{where}: unsupported type {kind!r}")
    kwargs = {option: schema[keyword] for keyword, option in _CONSTRAINTS.items() if keyword in schema}
    return Annotated[base, pydantic.Field(**kwargs)] if kwargs else base


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpTool:
    """A tool served by an HTTP API, called with the caller's bearer token.

    Usage::

        HttpTool(
            name="users.get",
            description="A user's profile.",
            method="GET",
            url="https://api.example.com/users/{user_id}",
            parameters={
                "type": "object",
                "properties": {"user_id": {"type": "string", "description": "The user's id."}},
                "required": ["user_id"],
            },
        )

    Raises ``ConfigError`` when a field is invalid (a placeholder outside the
    URL's path or missing from the parameters, a bad method or URL); ``to_tool``
    raises it for what only a tool definition can check (the name, an
    unsupported JSON Schema keyword).
    """

    name: str
    """What scripts call it (dotted for a namespace: ``users.get``)."""

    description: str
    """What it does, for models and for ``help()`` in the guest."""

    method: Method
    """The HTTP method: GET and DELETE send arguments as the query string,
    POST, PUT and PATCH as a JSON body."""

    url: str
    """``http(s)://host/path`` with ``{name}`` placeholders in the path only;
    each one is a required parameter, sent as one percent-encoded path segment."""

    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema (an object) of the arguments. Each property may use ``type``
    (string, integer, number, boolean, array, object), ``enum``, ``items``,
    ``minimum``/``maximum``, ``minLength``/``maxLength``, ``pattern``,
    ``default`` and ``description``."""

    timeout: float = 10.0
    """Seconds the whole call may take (connecting, sending, reading the response)."""

    max_response_bytes: int = 10_000_000
    """Largest response body read; a larger one fails the call."""

    def __post_init__(self) -> None:
        where = f"http tool {self.name!r}"
        if self.method not in _METHODS:
            raise ConfigError(f"{where}: method {self.method!r} is not one of {', '.join(_METHODS)}")
        if not isinstance(self.description, str):
            raise ConfigError(f"{where}: description must be a string")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ConfigError(f"{where}: timeout must be a positive number of seconds")
        if not math.isfinite(self.timeout):
            raise ConfigError(f"{where}: timeout must be finite")
        if isinstance(self.max_response_bytes, bool) or not isinstance(self.max_response_bytes, int):
            raise ConfigError(f"{where}: max_response_bytes must be a positive integer")
        if self.max_response_bytes <= 0:
            raise ConfigError(f"{where}: max_response_bytes must be a positive integer")
        placeholders = self.placeholders
        bare = self.url.replace("{", "").replace("}", "")
        parts = urlsplit(bare)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ConfigError(f"{where}: url must be http(s)://host/path without a fragment, got {self.url!r}")
        head = self.url.split("://", 1)[1].split("/", 1)[0]
        tail = self.url.split("?", 1)[1] if "?" in self.url else ""
        if "{" in head or "{" in tail:
            raise ConfigError(f"{where}: placeholders may only appear in the URL's path, not its host or query")
        properties = self.parameters.get("properties", {}) if isinstance(self.parameters, dict) else None
        if not isinstance(properties, dict) or self.parameters.get("type", "object") != "object":
            raise ConfigError(f"{where}: parameters must be a JSON Schema object with 'properties'")
        required = self.parameters.get("required", [])
        if not isinstance(required, list) or not set(required) <= set(properties):
            raise ConfigError(f"{where}: 'required' must list names from 'properties'")
        for name in placeholders:
            if name not in properties or name not in required:
                raise ConfigError(f"{where}: URL placeholder {{{name}}} must be a required parameter")
            prop = properties[name]
            if not isinstance(prop, dict) or ("enum" not in prop and prop.get("type") not in ("string", "integer")):
                raise ConfigError(f"{where}: URL placeholder {{{name}}} must be a string, an integer or an enum")

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The URL template's placeholder names, in order."""
        names = []
        try:
            parsed = list(string.Formatter().parse(self.url))
        except ValueError as exc:
            raise ConfigError(f"http tool {self.name!r}: url template {self.url!r} is malformed: {exc}") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise ConfigError(f"http tool {self.name!r}: placeholder {{{name}}} must be a plain parameter name")
            names.append(name)
        return tuple(names)

    def to_tool(self, client: HttpToolClient) -> Tool:
        """The ``host_functions.Tool`` that calls this backend through ``client``.
        Raises ``ConfigError`` when the parameters cannot be described as a tool."""
        properties: dict[str, Any] = self.parameters.get("properties", {})
        required = set(self.parameters.get("required", []))
        params = [
            inspect.Parameter(_CONTEXT, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ToolContext[Identity])
        ]
        annotations: dict[str, Any] = {_CONTEXT: ToolContext[Identity]}
        docs = []
        # Required parameters first: Python signatures put defaults last.
        for name in sorted(properties, key=lambda n: n not in required):
            schema = properties[name]
            if not name.isidentifier() or name.startswith("_"):
                raise ConfigError(f"http tool {self.name!r}: parameter name {name!r} must be a Python identifier")
            annotation = _annotation(self.name, name, schema)
            default = inspect.Parameter.empty
            if name not in required:
                # Optional: left out (or None) means "not sent".
                annotation, default = annotation | None, schema.get("default")
            try:
                params.append(
                    inspect.Parameter(
                        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default
                    )
                )
            except ValueError as exc:  # a keyword (class, def...) cannot be a parameter
                raise ConfigError(f"http tool {self.name!r}: parameter name {name!r}: {exc}") from None
            annotations[name] = annotation
            if isinstance(schema, dict) and schema.get("description"):
                docs.append(f"    {name}: {_one_line(schema['description'])}")
        spec = self

        async def call(**arguments: Any) -> Any:
            context = arguments.pop(_CONTEXT)
            return await client.call(spec, context, arguments)

        call.__signature__ = inspect.Signature(params, return_annotation=Any)  # type: ignore[attr-defined]
        call.__annotations__ = {**annotations, "return": Any}
        call.__doc__ = self.description + ("\n\nArgs:\n" + "\n".join(docs) if docs else "")
        call.__qualname__ = call.__name__ = f"http_tool_{self.name.replace('.', '_')}"
        try:
            return Tool.from_function(call, name=self.name, description=self.description)
        except ToolDefinitionError as exc:
            raise ConfigError(f"http tool {self.name!r}: {exc}") from None
        except Exception as exc:  # pydantic rejecting a constraint (a bad pattern, a minimum on a string)
            raise ConfigError(f"http tool {self.name!r}: its parameters cannot be validated: {exc}") from None


def _redact(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, _REDACTED)
    if isinstance(value, list):
        return [_redact(item, token) for item in value]
    if isinstance(value, dict):
        return {_redact(key, token): _redact(item, token) for key, item in value.items()}
    return value


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, list):
        return [_query_value(item) for item in value]
    return value


class HttpToolClient:
    """The shared ``httpx.AsyncClient`` the HTTP tools call through.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    ``open()`` makes the client (the app does it at startup), ``aclose()``
    closes it; redirects are not followed, so a token never follows one.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, follow_redirects=False, headers={"User-Agent": "otc-runtime"}
            )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def call(self, tool: HttpTool, context: ToolContext[Identity], arguments: dict[str, Any]) -> Any:
        """Call ``tool``'s backend for the caller in ``context``; its JSON, redacted.
        Raises ``ToolError`` (the script sees it) for every failure."""
        identity = context.deps
        if not isinstance(identity, Identity):
            raise ToolError(f"{tool.name}: no caller identity for this run")
        client = self._client
        if client is None:
            raise ToolError(f"{tool.name}: the server is shutting down")
        segments = {}
        for name in tool.placeholders:
            text = str(arguments.pop(name))
            if text in ("", ".", ".."):
                raise ToolError(f"{tool.name}: {name}={text!r} is not a valid path segment")
            segments[name] = quote(text, safe="")
        url = tool.url.format_map(segments)
        rest = {name: value for name, value in arguments.items() if value is not None}
        headers = {"Authorization": f"Bearer {identity.token}", "Accept": "application/json"}
        query = {name: _query_value(value) for name, value in rest.items()} if tool.method in _QUERY_METHODS else None
        body = rest if tool.method not in _QUERY_METHODS else None
        try:
            # httpx's timeout bounds each network step; the whole call gets the same bound.
            async with (
                asyncio.timeout(tool.timeout),
                client.stream(
                    tool.method, url, params=query, json=body, headers=headers, timeout=tool.timeout
                ) as response,
            ):
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > tool.max_response_bytes:
                        raise ToolError(f"{tool.name}: the response is over {tool.max_response_bytes} bytes")
        except (TimeoutError, httpx.TimeoutException):
            raise ToolError(f"{tool.name}: the backend did not answer within {tool.timeout} s") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"{tool.name}: the backend could not be reached ({type(exc).__name__})") from None
        text = content.decode("utf-8", "replace").replace(identity.token, _REDACTED)
        if not 200 <= response.status_code < 300:
            excerpt = text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")
            raise ToolError(f"{tool.name}: the backend answered {response.status_code}: {excerpt}")
        if not text.strip():
            return None
        try:
            result = json.loads(text)
        except ValueError:
            raise ToolError(
                f"{tool.name}: the backend answered {response.status_code} with a body that is not JSON"
            ) from None
        return _redact(result, identity.token)
