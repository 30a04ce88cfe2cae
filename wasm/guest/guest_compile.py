"""A script's source to the code objects that run it, with REPL semantics.

A script's value is its last statement's, if that is an expression. The sure
way to tell is a Python AST of the whole script, but building one costs about
as much again as compiling (in wasm, ~260 µs for a seven-line script on top of
~300 µs), so where the source's shape allows, the script is cut at the start
of its last top-level statement and the two parts compiled straight from
source: the head as statements, the last statement as an expression if it is
one (its value is the script's), else as statements. Nothing here is trusted
by the host.
"""

import ast
import re

import guest_callsites

FILENAME = "<script>"
VALUE = "__otc_value__"
"""Where the AST path's code leaves the script's value."""

_compiled: dict = {}  # (source, rewrite) -> (bodies, final): an LRU, see compile_script
_COMPILED_MAX = 64

# What starts a statement and never an expression: a decorator, a keyword
# (not the soft ones such as `match` and `type`, which also name things), or
# an assignment (`name = ...`, `a.b += ...`; `==`, `<=`, `!=` and keyword
# arguments inside brackets do not match).
_STATEMENT = re.compile(
    r"@|(?:assert|async|break|class|continue|def|del|for|from|global|if|import|nonlocal|pass|raise|return|try|while"
    r"|with)\b|[A-Za-z_][\w.]*+[ \t]*+(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)"  # possessive: no backtracking
)
# A line at column 0 starting with one of these continues the statement above it.
_CLAUSE = re.compile(r"(?:elif|else|except|finally)\b")


def compile_script(code: str, rewrite: bool):
    """(bodies, final) code objects for a script, cached by source.

    ``bodies`` run in turn in exec mode; the AST path's leaves the script's
    value, if any, in ``VALUE``. ``final`` (or None) is an expression whose
    value is the script's. Compiling costs tens to hundreds of microseconds
    in wasm, more than a small run itself, so a session re-running the same
    source reuses the code objects. Raises ``SyntaxError`` for invalid code.
    """
    key = (code, rewrite)
    hit = _compiled.pop(key, None)
    if hit is None:
        hit = _compile_new(code, rewrite)
        if len(_compiled) >= _COMPILED_MAX:
            del _compiled[next(iter(_compiled))]
    _compiled[key] = hit
    return hit


def _compile_new(code: str, rewrite: bool):
    if not (rewrite and "asyncio" in code):  # tool calls to rewrite need the AST
        direct = _compile_direct(code)
        if direct is not None:
            return direct
    tree = ast.parse(code, FILENAME, "exec")
    if rewrite and ("await" in code or "asyncio" in code):
        tree = guest_callsites.async_call_sites(tree)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        # REPL-style value, kept in one code object so a script with top-level
        # await runs as one coroutine (tasks made early can be awaited last).
        last = tree.body[-1]
        target = ast.copy_location(ast.Name(VALUE, ast.Store()), last)
        tree.body[-1] = ast.copy_location(ast.Assign([target], last.value), last)
    return (compile(tree, FILENAME, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT),), None


def _compile_direct(code: str):
    """(bodies, final) compiled from source, or None when only the AST path can tell.

    The cut is right when the head compiles on its own: it then ends outside
    any bracket, string or continued line, so the line after it, at column 0,
    starts a top-level statement.
    """
    # Not with old Mac line ends (lines are split on "\n" here), top-level
    # await, `__future__` imports (the last statement, compiled alone, would
    # not see them) or `global` (declaring a name after its use is an error
    # only within one code object).
    if "\r" in code or "await" in code or "__future__" in code or "global" in code:
        return None
    stripped = code.rstrip()
    start = _last_statement_start(stripped) if "\n" in stripped else 0 if stripped else -1
    if start < 0:
        return None
    try:
        head = (compile(code[:start], FILENAME, "exec"),) if start and code[:start].strip() else ()
    except SyntaxError:
        return None  # not a cut between statements, or a real error: the AST path decides
    # Offset by blank lines, so a traceback names the script's own line.
    last = "\n" * stripped.count("\n", 0, start) + code[start:] if start else code
    if not _STATEMENT.match(stripped, start):
        try:
            return head, compile(last, FILENAME, "eval")
        except SyntaxError:
            pass
    if ";" in stripped[start:]:
        return None  # maybe statements on one line, the last an expression
    try:
        tail = compile(last, FILENAME, "exec")
    except SyntaxError:
        return None  # the AST path reports it
    if head and "__annotate__" in head[0].co_names and "__annotate__" in tail.co_names:
        return None  # each part would set the module's annotations, the second over the first
    return (*head, tail), None


def _last_statement_start(stripped: str) -> int:
    """Where the last top-level statement seems to start in ``stripped``
    (a script without trailing whitespace), or -1.

    That is the start of the last line at column 0 that is not a comment, a
    closing bracket or a clause (`else:`), or of the decorators just above it.
    """
    end = len(stripped)
    found = -1
    while end > 0:
        start = stripped.rfind("\n", 0, end) + 1
        first = stripped[start : start + 1]
        if first == "@" and found >= 0:
            found = start  # a decorator of the definition below
        elif found >= 0 and first not in ("", " ", "\t", "#"):
            return found
        elif found < 0 and first not in ("", " ", "\t", "#", ")", "]", "}") and not _CLAUSE.match(stripped, start):
            found = start
        end = start - 1
    return found
