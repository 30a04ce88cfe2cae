"""From a Python callable to what a tool needs: argument validator, JSON
Schemas of the parameters and of the result, and the signature the guest
shows (``help(tool)``)."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import ConfigDict

from runtime._errors import ToolDefinitionError

from ._context import ToolContext
from ._docstrings import parse_docstring

__all__ = ["FunctionSchema", "function_schema"]

_QUALIFIED = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")


@dataclass(frozen=True, kw_only=True)
class FunctionSchema:
    """Everything derived from a function's signature and docstring."""

    description: str
    """The docstring's description (without the parameter sections)."""
    parameters: dict[str, Any]
    """JSON Schema (an object) of the arguments, with per-parameter descriptions."""
    returns: dict[str, Any] | None
    """JSON Schema of the result, or None when the function has no return annotation."""
    arguments: type[pydantic.BaseModel]
    """Validates a JSON object of arguments (extra keys are rejected)."""
    positional_only: tuple[str, ...]
    """Parameters that must be passed positionally when the host calls the function."""
    context_parameter: str | None
    """The parameter that receives the ``ToolContext``, never shown to the guest."""
    guest_signature: dict[str, Any]
    """Parameter names, kinds, annotations and defaults, for the guest's wrapper."""


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if annotation is None or annotation is type(None):
        return "None"
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return _QUALIFIED.sub(r"\1", text)


def _is_context(annotation: Any) -> bool:
    return annotation is ToolContext or typing.get_origin(annotation) is ToolContext


def _default_for_guest(value: Any) -> dict[str, Any]:
    try:
        json.dumps(value)
        return {"default": value}
    except (TypeError, ValueError):
        return {"default_repr": repr(value)}


def function_schema(func: Callable[..., Any], name: str, description: str | None) -> FunctionSchema:
    """Describe ``func``; raises ``ToolDefinitionError`` when it cannot be a tool."""
    try:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot read the signature of {func!r}: {exc}") from exc
    doc_description, param_docs = parse_docstring(inspect.getdoc(func))
    fields: dict[str, Any] = {}
    positional_only: list[str] = []
    context_parameter = None
    guest_params: list[dict[str, Any]] = []
    for param in signature.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if _is_context(annotation):
            context_parameter = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name!r}: *args and **kwargs are not supported ({param})")
        if param.name.startswith("_"):
            raise ToolDefinitionError(f"tool {name!r}: parameter names must not start with '_' ({param.name})")
        if param.kind is param.POSITIONAL_ONLY:
            positional_only.append(param.name)
        field_type = Any if annotation is inspect.Parameter.empty else annotation
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (field_type, pydantic.Field(default, description=param_docs.get(param.name)))
        guest_param: dict[str, Any] = {
            "name": param.name,
            "kind": param.kind.name.lower(),
            "annotation": _annotation_text(annotation),
        }
        if param.default is not param.empty:
            guest_param.update(_default_for_guest(param.default))
        guest_params.append(guest_param)
    try:
        # NaN and infinities are not JSON: a tool whose schema says "number" never sees one.
        config = ConfigDict(extra="forbid", arbitrary_types_allowed=False, allow_inf_nan=False)
        arguments = pydantic.create_model(f"{name}_arguments", __config__=config, **fields)
        parameters = arguments.model_json_schema()
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: a parameter type cannot be validated from JSON: {exc}") from exc
    parameters.pop("title", None)
    for prop in parameters.get("properties", {}).values():
        prop.pop("title", None)
    return_annotation = hints.get("return", signature.return_annotation)
    returns = None
    if return_annotation is not inspect.Signature.empty and return_annotation is not None:
        try:
            returns = pydantic.TypeAdapter(return_annotation).json_schema(mode="serialization")
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError):
            returns = None  # an exotic return type: the result is still serialised as JSON
    return FunctionSchema(
        description=(description if description is not None else doc_description).strip(),
        parameters=parameters,
        returns=returns,
        arguments=arguments,
        positional_only=tuple(positional_only),
        context_parameter=context_parameter,
        guest_signature={"params": guest_params, "returns": _annotation_text(return_annotation)},
    )
