"""Split a docstring into a description and per-parameter docs.

Understands the three common styles: Google (``Args:``), Sphinx
(``:param name:``) and NumPy (``Parameters`` underlined). Anything it does
not recognise stays in the description.
"""

from __future__ import annotations

import inspect
import re

__all__ = ["parse_docstring"]

_GOOGLE_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Kwargs):\s*$")
_GOOGLE_OTHER = re.compile(r"^(Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also):\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SPHINX_OTHER = re.compile(r"^:(returns?|rtype|raises?\s*\w*|type\s+\w+)\s*:")
_NUMPY_HEADER = re.compile(r"^-{3,}\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: doc}) for a docstring; both may be empty."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    section = "description"
    base = -1  # indent of parameter items in the current Args/Parameters section
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if stripped and _NUMPY_HEADER.match(nxt):
            section = "numpy" if stripped.lower() in {"parameters", "params", "arguments"} else "other"
            current, base = None, -1
            i += 2
            continue
        if _GOOGLE_SECTION.match(stripped):
            section, current, base = "params", None, -1
        elif _GOOGLE_OTHER.match(stripped) or _SPHINX_OTHER.match(stripped):
            section, current = "other", None
        elif match := _SPHINX_PARAM.match(stripped):
            section, current = "sphinx", match.group(1)
            params[current] = match.group(2).strip()
        elif section in {"params", "numpy"} and stripped:
            if base < 0:
                base = _indent(line)
            if _indent(line) <= base and (item := _GOOGLE_ITEM.match(stripped)):
                current = item.group(1).lstrip("*")
                # NumPy puts the type after the colon and the doc below it.
                params[current] = "" if section == "numpy" else item.group(3).strip()
            elif current is not None:
                params[current] = (params[current] + " " + stripped).strip()
        elif section == "sphinx" and stripped and current is not None:
            params[current] = (params[current] + " " + stripped).strip()
        elif section == "description":
            description.append(line)
        i += 1
    return "\n".join(description).strip(), params
