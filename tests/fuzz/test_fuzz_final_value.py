"""Scripts compiled straight from source behave as the Python AST says they must.

The guest compiles most scripts without building a Python AST
(``guest_compile``): it cuts the script before its last top-level statement
and compiles the two parts from source. Here scripts assembled from awkward
pieces (strings holding lines that look like statements, clauses and
decorators at column 0, brackets and backslashes over several lines, ``;``,
annotations) are run both ways in the guest, and must agree on everything a
script can see: its value, what it printed, the exception and its line. Code
the AST rejects must never be compiled the direct way.
"""

from __future__ import annotations

import pytest
from fuzz_support import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from runtime import Sandbox, Session

# Runs in the guest: `check(code)` is [what the AST path does, what the direct path does].
CHECKER = r"""
import ast, contextlib, io, re, traceback, guest_compile

def _reference(code):
    tree = ast.parse(code, guest_compile.FILENAME, "exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        target = ast.copy_location(ast.Name("__value__", ast.Store()), last)
        tree.body[-1] = ast.copy_location(ast.Assign([target], last.value), last)
    return (compile(tree, guest_compile.FILENAME, "exec"),), None

def _effect(compiled):
    bodies, final = compiled
    namespace, out = {"__name__": "__main__"}, io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for body in bodies:
                exec(body, namespace)
            value = namespace.pop("__value__", "<no value>")
            if final is not None:
                value = eval(final, namespace)
        annotations = namespace.get("__annotate__")
        shown = re.sub(r" at 0x[0-9a-f]+", "", repr(value))  # two runs make two lambdas
        return ["returned", shown, out.getvalue(), repr(annotations and annotations(1))]
    except Exception as exc:
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == guest_compile.FILENAME]
        return ["raised", type(exc).__name__, out.getvalue(), lines[-1:]]

def check(code):
    try:
        want = _effect(_reference(code))
    except SyntaxError:
        want = "syntax error"
    direct = guest_compile._compile_direct(code)
    return [want, "not direct" if direct is None else _effect(direct)]
"""

PIECES = [
    "x = 1",
    "y = x + 1",
    "x",
    "x + y",
    "print(x)",
    "print('a;b')",
    "x; y",
    "x = 2; x",
    "x += 1",
    "x == 1",
    "x <= 2",
    "x.real",
    "(x, y)",
    "x if x else y",
    "lambda: 1",
    "lambda v=1: v",
    "f'{x}'",
    "for i in range(2):\n    x += i",
    "for i in range(2):\n    x += i\n    x",
    "if x:\n    y = 2\nelse:\n    y = 3",
    "if x: y = 5\nelif y: y\nelse: 0",
    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    z = 1\nfinally:\n    w = 2",
    "while x > 5:\n    x -= 1",
    "def f(a,\n      b=1):\n    return a + b",
    "f(1,\n2)",
    "@staticmethod\ndef g():\n    return 2",
    "@(lambda fn: fn)\ndef h():\n    return 3\n",
    "h()",
    "class A:\n    v: int = 1",
    "A.v",
    "z: int = 3",
    "w: str",
    "for i in range(1):\n    q: float = 1.5",
    "[\n1,\n2\n]",
    "(\nx\n)",
    "{\n'k': x,\n}",
    "x = [1,\n2]",
    "1 + \\\n2",
    "x = 1 + \\\n2",
    's = """\nfor a in b:\n@x\n)\nelse:\n"""',
    "'''\n#x\nx\n'''",
    "s = '''\nx\n'''",
    "s",
    "x = f'''\n{x}\n'''",
    "# a comment",
    "",
    "    # an indented comment",
    "del x",
    "import math",
    "math.pi",
    "assert x",
    "pass",
    "raise ValueError('v')",
    "1 / 0",
    "undefined_name",
    "match x:\n    case 1:\n        m = 1\n    case _:\n        m = 2",
    "type T = int",
    "async def co():\n    pass",
    "with open('nowhere') as fh:\n    pass",
    "return 1",
    "else:\n    pass",
    ")",
    "x = = 1",
    "@staticmethod",
    "    indented = 1",
    "x = (1 +\n2)",
    's = """\nelse:\n"""',
    't = """\n)"""',
    "@(lambda fn:\n  fn)\ndef k():\n    return 4",
    "k()",
    "x  # the end; really",
    "if x:\n    pass\n# a comment at column 0\nelse:\n    pass",
    "try:\n    pass\nexcept* ValueError:\n    pass",
    "global gx",
    "gx = 1",
    "from __future__ import annotations",
    "import asyncio\nawait asyncio.sleep(0)",
    "x = 1\r\nx",
]
SCRIPTS = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("\n".join)


@pytest.fixture(scope="module")
def checker(sandbox: Sandbox) -> Session:
    with sandbox.session() as session:
        defined = session.run(CHECKER)
        assert defined.ok, defined.error
        yield session


def _check(checker: Session, code: str) -> tuple[object, object]:
    result = checker.run(f"check({code!r})")
    assert result.ok, result.error
    want, got = result.value
    return want, got


def test_direct_compilation_agrees_with_the_ast(checker: Session) -> None:
    direct = 0

    @FUZZ
    @given(code=SCRIPTS)
    def agrees(code: str) -> None:
        nonlocal direct
        want, got = _check(checker, code)
        if got != "not direct":
            direct += 1
            assert want != "syntax error", f"the direct path compiled code the AST rejects: {code!r}"
            assert got == want, code

    agrees()
    assert direct > 10  # most examples took the direct path: the comparison is not vacuous


@pytest.mark.parametrize(
    ("code", "effect"),
    [
        pytest.param(
            "t = 0\nfor i in range(3):\n    t += i\n    print(t)",
            ["returned", "'<no value>'", "0\n1\n3\n"],
            id="loop-last",
        ),
        pytest.param("x = 1\nif x:\n    y = 2\nelse:\n    y = 3", ["returned", "'<no value>'", ""], id="if-else-last"),
        pytest.param(
            "import math\n@staticmethod\ndef f():\n    pass", ["returned", "'<no value>'", ""], id="decorated-last"
        ),
        pytest.param("x = 4\n{\n    'x': x,\n}", ["returned", "{'x': 4}", ""], id="bracketed-value"),
        pytest.param("def f(a):\n    return a\nf(\n    5\n)", ["returned", "5", ""], id="call-over-lines"),
        pytest.param("x = 1\ny = x + 1", ["returned", "'<no value>'", ""], id="assignment-last"),
        pytest.param("x = 1\nprint('a;b')", ["returned", "None", "a;b\n"], id="semicolon-in-a-string"),
        pytest.param("x = 0\ny = 1 / x\nz = 2", ["raised", "ZeroDivisionError", "", [2]], id="error-line"),
        pytest.param(
            "x = 1\nfor i in range(2):\n    1 / 0", ["raised", "ZeroDivisionError", "", [3]], id="error-in-the-tail"
        ),
    ],
)
def test_common_shapes_compile_straight_from_source(checker: Session, code: str, effect: list[object]) -> None:
    """Scripts ending in a loop, an `if`, a definition, an assignment or a
    bracketed expression take the direct path, with the AST path's effect."""
    want, got = _check(checker, code)
    assert isinstance(want, list)
    assert want[: len(effect)] == effect
    assert got == want
