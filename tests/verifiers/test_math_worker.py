"""The sympy worker processes: a memory limit that cannot be set is reported, and a worker that cannot
start, dies or answers nonsense is an `internal_error` (the verifier failed), never a verdict on the
response; a hostile answer that runs out of time is a `timeout`. Run: python -m pytest tests/verifiers -q
"""

import warnings

import pytest

import verifiers.math
from verifiers import _math_worker
from verifiers._math_parse import parse
from verifiers._math_worker import WorkerPool
from verifiers.math import check

SYMPY_ROW = ("\\boxed{(x+1)^2}", "x^2+2x+1")  # needs the worker
READY = "import json, sys; print(json.dumps({'ready': True, 'memory_limit_error': None}), flush=True); "


@pytest.fixture
def pool(monkeypatch):
    """A private pool that `check` uses for the test (the shared one is left alone)."""
    pool = WorkerPool(max_workers=2)
    monkeypatch.setattr(verifiers.math, "POOL", pool)
    yield pool
    pool.shutdown()


def test_memory_limit_that_cannot_be_set_is_reported_once(pool):
    pool.memory_limit_bytes = 1 << 70  # larger than the C type behind setrlimit: it cannot be set
    with pytest.warns(RuntimeWarning, match="without a memory limit: OverflowError"):
        outcome = check(*SYMPY_ROW)
    assert outcome.correct  # the comparison still runs, under the time limit
    assert "OverflowError" in pool.memory_limit_error
    assert outcome.details["memory_limit_error"] == pool.memory_limit_error
    pool.shutdown()  # the next check starts a new child, which reports again: no second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check(*SYMPY_ROW).correct


def test_memory_limit_is_set_by_default(pool):
    assert check(*SYMPY_ROW).correct
    assert pool.memory_limit_error is None
    assert "memory_limit_error" not in check(*SYMPY_ROW).details


@pytest.mark.parametrize(
    "child_code, message",
    [
        ("import sys; sys.exit(3)", "failed to start"),  # cannot start
        ("print('not json', flush=True)", "failed to start"),  # starts, but not as a math worker
        (READY + "sys.stdin.readline(); sys.exit(1)", "math worker exited"),  # dies mid-comparison
        (READY + "sys.stdin.readline(); print('garbage', flush=True)", "JSONDecodeError"),  # answers nonsense
    ],
)
def test_broken_worker_is_an_internal_error(pool, monkeypatch, child_code, message):
    monkeypatch.setattr(_math_worker, "_CHILD_CODE", child_code)
    outcome = check(*SYMPY_ROW)
    assert outcome.correct is False and outcome.reason.startswith("internal_error:"), outcome.reason
    assert message in outcome.reason
    assert check("\\boxed{42}", "42").correct  # numeric answers never need the worker


def test_pool_recovers_after_a_broken_worker(pool, monkeypatch):
    monkeypatch.setattr(_math_worker, "_CHILD_CODE", "import sys; sys.exit(3)")
    assert check(*SYMPY_ROW).reason.startswith("internal_error:")
    monkeypatch.undo()
    monkeypatch.setattr(verifiers.math, "POOL", pool)
    assert check(*SYMPY_ROW).correct


def test_hostile_timeout_is_not_an_internal_error(pool):
    outcome = check("\\boxed{(a+b+c+d)^{999}}", "0", timeout=0.5)
    assert outcome.reason.startswith("timeout"), outcome.reason
    assert pool.compare(parse("x+1"), parse("1+x"), 1e-6, 30.0) == {"equal": True}  # a fresh child took over


def test_a_bug_in_the_host_stage_is_an_internal_error(monkeypatch):
    def broken(answer):
        raise RuntimeError("a bug")

    monkeypatch.setattr(verifiers.math, "normalize", broken)
    outcome = check("\\boxed{42}", "42")
    assert outcome.correct is False and outcome.reason == "internal_error: RuntimeError: a bug"
