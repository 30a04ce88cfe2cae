"""Compile-time rewrite of the call sites whose results are awaited.

A plain tool call blocks. Where its result is awaited, or handed to an
asyncio combinator (``gather``, ``wait``, ``create_task``, ...), the call is
rewritten to ``__otc_submit__(function, *args)``, which submits a tool call
(and calls anything else as usual), so many calls can be in flight.
"""

import ast

_COMBINATORS = frozenset({"gather", "wait", "wait_for", "create_task", "ensure_future", "as_completed", "shield"})


def _is_combinator(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr in _COMBINATORS) or (
        isinstance(func, ast.Name) and func.id in _COMBINATORS
    )


# These take only coroutines: a tool call handed to them becomes one.
_WANT_COROUTINE = frozenset({"create_task", "run"})


def _wants_coroutine(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        # `run` only as asyncio.run: other objects' run methods are not asyncio.
        return func.attr == "create_task" or (
            func.attr == "run" and isinstance(func.value, ast.Name) and func.value.id == "asyncio"
        )
    return isinstance(func, ast.Name) and func.id == "create_task"


def _submit(call: ast.Call, coroutine: bool) -> ast.Call:
    helper = "__otc_submit_coroutine__" if coroutine else "__otc_submit__"
    return ast.Call(func=ast.Name(helper, ast.Load()), args=[call.func, *call.args], keywords=call.keywords)


def _mark(node, coroutine: bool = False):
    """Rewrite the calls whose *values* become awaitables: the expression itself,
    or elements of displays, comprehensions and starred arguments, but never
    calls nested in another call's arguments."""
    if isinstance(node, ast.Call):
        return node if _is_combinator(node) else _submit(node, coroutine)
    if isinstance(node, ast.Starred):
        node.value = _mark(node.value, coroutine)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        node.elts = [_mark(e, coroutine) for e in node.elts]
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        node.elt = _mark(node.elt, coroutine)
    elif isinstance(node, ast.DictComp):
        node.value = _mark(node.value, coroutine)
    elif isinstance(node, ast.IfExp):
        node.body, node.orelse = _mark(node.body, coroutine), _mark(node.orelse, coroutine)
    return node


class _CallSites(ast.NodeTransformer):
    def __init__(self, task_names: set) -> None:
        self.task_names = task_names

    def visit_Await(self, node: ast.Await):
        self.generic_visit(node)
        node.value = _mark(node.value)
        return node

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if _wants_coroutine(node):
            node.args = [_mark(arg, coroutine=True) for arg in node.args]
        elif _is_combinator(node) or (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in {"append", "add"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in self.task_names
        ):
            node.args = [_mark(arg) for arg in node.args]
        return node

    def visit_Assign(self, node: ast.Assign):
        self.generic_visit(node)
        if any(isinstance(t, ast.Name) and t.id in self.task_names for t in node.targets):
            node.value = _mark(node.value)
        return node


def async_call_sites(tree: ast.Module) -> ast.Module:
    """Rewrite the call sites whose results are awaited to submit tool calls."""
    task_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_combinator(node):
            for arg in node.args:
                inner = arg.value if isinstance(arg, ast.Starred) else arg
                if isinstance(inner, ast.Name):
                    task_names.add(inner.id)
    tree = _CallSites(task_names).visit(tree)
    return ast.fix_missing_locations(tree)
