"""Test hygiene (issue 9 item 9): no test without an assertion.

Every ``test_*`` function under tests/ must check something: contain an ``assert``, a ``pytest.raises`` /
``pytest.warns`` block (or call), a ``pytest.fail``, or call a helper that does — a function of its own module
that checks (found the same way, transitively), or one of the shared helpers of tests/helpers.py listed in
:data:`ASSERTING_HELPERS`. A test that only runs code passes whatever the code does. Read from the source with
``ast``: nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent

#: Shared helpers (tests/helpers.py) that fail the test when what they check is wrong: by an ``assert``, or by
#: raising (``verify_with_openssl`` runs ``openssl cms -verify`` with check=True). Each one is checked below.
ASSERTING_HELPERS = {
    "check_manifest": "assert",
    "make_offer": "assert",
    "verify_with_openssl": "check=True",
}
#: Calls on ``pytest`` that are themselves a check.
_PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _called_names(node: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _checks_directly(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Assert):
            return True
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _PYTEST_CHECKS
                and isinstance(n.func.value, ast.Name) and n.func.value.id == "pytest"):
            return True
    return False


def _asserting_functions(tree: ast.Module) -> set[str]:
    """Names of the module's functions (any depth) that check something, directly or through each other or
    through the shared asserting helpers."""
    functions: dict[str, list[ast.AST]] = {}
    for f in _functions(tree):
        functions.setdefault(f.name, []).append(f)
    checking = {name for name, defs in functions.items() if any(map(_checks_directly, defs))} | set(ASSERTING_HELPERS)
    while True:
        more = {name for name, defs in functions.items() if name not in checking
                and any(_called_names(d) & checking for d in defs)}
        if not more:
            return checking
        checking |= more


def unchecked_tests(path: Path) -> list[tuple[int, str]]:
    """(line, name) of each test function in *path* that checks nothing."""
    tree = ast.parse(path.read_text(), filename=str(path))
    checking = _asserting_functions(tree)
    return [(f.lineno, f.name) for f in _functions(tree) if f.name.startswith("test_") and f.name not in checking]


def test_every_test_checks_something() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 30  # the walk found the suite
    unchecked = [f"{path.relative_to(TESTS.parent)}:{line} {name}" for path in files
                 for line, name in unchecked_tests(path)]
    assert not unchecked, "tests without an assertion (add the check the test means):\n" + "\n".join(unchecked)


def test_the_allow_listed_helpers_do_check() -> None:
    source = (TESTS / "helpers.py").read_text()
    helpers = {f.name: f for f in _functions(ast.parse(source)) if f.name in ASSERTING_HELPERS}
    assert set(helpers) == set(ASSERTING_HELPERS), "an allow-listed helper is gone from tests/helpers.py"
    for name, how in ASSERTING_HELPERS.items():
        assert how in ast.get_source_segment(source, helpers[name]), f"{name} no longer checks ({how})"


def test_the_check_tells_a_test_that_checks_from_one_that_does_not(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "from tests.helpers import check_manifest\n"
        "def _ok(x):\n    assert x\n"
        "def _via(x):\n    _ok(x)\n"
        "def test_assert():\n    assert 1\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        int('x')\n"
        "def test_local_helper():\n    _via(1)\n"
        "def test_shared_helper():\n    check_manifest(b'')\n"
        "def test_runs_only():\n    int('1')\n"
        "def test_attribute_call_is_not_a_check():\n    x = object()\n    x._ok(1)\n")
    found = unchecked_tests(tmp_path / "test_sample.py")
    assert [name for _, name in found] == ["test_runs_only", "test_attribute_call_is_not_a_check"]


def test_no_test_module_imports_another() -> None:
    """Shared fixtures live in conftest.py, shared helpers in tests/helpers.py (or builders.py, fakes/, pki.py):
    a test module importing another runs that module's tests' setup and ties the two together."""
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(TESTS)}:{node.lineno} imports {name}")
    assert offenders == []
