"""Split trusted test code into units that the harness runs, and counts, one by one.

Two styles:
- HumanEval: `tests` defines `def check(candidate): ...` and `entry_point` names the function under test. The
  statements of `check`'s body become the units (run in order in one namespace where `candidate` is bound),
  after the other top-level statements (imports, METADATA, helpers). A body that cannot run statement by
  statement outside a function (`return`, `yield`, `nonlocal`, `global`) becomes one unit: `check(candidate)`.
- asserts (MBPP): a block or list of top-level statements; every statement is a unit.
A unit counts as a test when it contains an `assert` (outside nested functions); the others are setup. If no
unit has an assert, the statements that run code (calls, loops, ...) count; tests in which nothing can fail
are rejected. Only test code is parsed here, never the program (it is hostile).
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass

_NOT_AT_MODULE_LEVEL = (ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Nonlocal, ast.Global)
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_RUNS_CODE = (ast.Expr, ast.If, ast.For, ast.While, ast.With, ast.Try)
# CPython 3.11's AST constructor keeps its recursion-depth counter in shared state: two threads parsing at once
# can raise "SystemError: AST constructor recursion depth mismatch" (gh-106905). `check` runs from threads.
_PARSE_LOCK = threading.Lock()


def _parse(source: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(source)


@dataclass(frozen=True)
class TestPlan:
    units: tuple[str, ...]  # source of each unit, in order
    counted: tuple[bool, ...]  # which units are tests (contain an assert)
    style: str  # "humaneval" | "asserts"
    candidate_name: str | None  # the name `check` calls its argument (HumanEval)

    @property
    def n_tests(self) -> int:
        return sum(self.counted)


def plan_tests(tests: str | list[str] | tuple[str, ...], entry_point: str | None) -> TestPlan:
    """Raises ValueError when the tests themselves are malformed (a data error, not the model's)."""
    if isinstance(tests, (list, tuple)):
        tests = "\n".join(str(t) for t in tests)
    if not isinstance(tests, str) or not tests.strip():
        raise ValueError(f"code tests must be a non-empty string or list of strings, got {tests!r:.80}")
    try:
        tree = _parse(tests)
    except SyntaxError as e:
        raise ValueError(f"code tests do not parse: {e.msg} at line {e.lineno}: {e.text!r:.120}") from None
    check = _check_function(tree) if entry_point else None
    if check is None:
        return _plan(tree.body, style="asserts", candidate_name=None)
    setup = [node for node in tree.body if node is not check]
    candidate_name = check.args.args[0].arg
    if all(_module_level_ok(node) for node in check.body):
        return _plan(setup + check.body, style="humaneval", candidate_name=candidate_name, n_setup=len(setup))
    call = _parse(f"{check.name}({candidate_name})").body
    return _plan(tree.body + call, style="humaneval", candidate_name=candidate_name, n_setup=len(tree.body))


def _check_function(tree: ast.Module) -> ast.FunctionDef | None:
    """The last top-level `def check(x)` with one positional argument, as HumanEval writes it."""
    found = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check" and len(node.args.args) == 1:
            found = node
    return found


def _module_level_ok(node: ast.stmt) -> bool:
    return not any(isinstance(n, _NOT_AT_MODULE_LEVEL) for n in _walk_same_scope(node))


def _has_assert(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Assert) for n in _walk_same_scope(node))


def _walk_same_scope(node: ast.AST):
    """ast.walk without descending into functions, lambdas and classes (a `def` statement runs no body)."""
    if isinstance(node, _NESTED_SCOPES):
        yield node
        return
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child for child in ast.iter_child_nodes(current) if not isinstance(child, _NESTED_SCOPES))


def _plan(nodes: list[ast.stmt], *, style: str, candidate_name: str | None, n_setup: int = 0) -> TestPlan:
    if not nodes:
        raise ValueError("code tests contain no statements")
    counted = [index >= n_setup and _has_assert(node) for index, node in enumerate(nodes)]
    if not any(counted):  # e.g. `check(add)` after a helper: statements that run code count instead
        counted = [index >= n_setup and isinstance(node, _RUNS_CODE) for index, node in enumerate(nodes)]
    if not any(counted):  # a bare `def check(...)` with nothing calling it would pass every program
        raise ValueError(
            "code tests contain nothing that can fail (no assert, no call); HumanEval-style "
            "tests need entry_point= so that `check(candidate)` is run"
        )
    return TestPlan(
        units=tuple(ast.unparse(node) for node in nodes),
        counted=tuple(counted),
        style=style,
        candidate_name=candidate_name,
    )
