"""Start-up verifier checks and verifier-error accounting (orchestration.preflight, orchestration.rewards)."""

import os
import sys

import pytest

from orchestration.arithmetic import ArithmeticTasks
from orchestration.preflight import CASES, VerifierUnavailable, check_verifiers, verifier_kinds
from orchestration.rewards import verifier_errors, verify
from orchestration.tasks import ListTasks
from verifiers import Outcome


def test_real_verifiers_pass_their_start_up_checks():
    check_verifiers({"math", "code"}, timeout=10.0)  # raises on any wrong verdict


def test_each_kind_checks_a_right_and_a_wrong_answer():
    for kind, cases in CASES.items():
        assert {expected for _, _, expected in cases} == {True, False}, kind
        assert {item.verifier for item, _, _ in cases} == {kind}


def test_verifier_kinds_of_a_run():
    arithmetic = ArithmeticTasks([1], "train", 0)
    assert verifier_kinds(arithmetic, []) == {"math"}
    code_item = CASES["code"][0][0]
    assert verifier_kinds(ListTasks([code_item], seed=0), [code_item]) == {"code"}
    assert verifier_kinds(ListTasks([code_item], seed=0), [CASES["math"][0][0]]) == {"code", "math"}


def _broken_code_batch(programs, tests, entry_points, timeout):
    return [
        Outcome(
            correct=False,
            score=0.0,
            reason="sandbox_error: cannot start the interpreter /x/python",
            details={"stderr": "FileNotFoundError: [Errno 2] No such file or directory: '/x/python'"},
        )
        for _ in programs
    ]


def test_a_sandbox_that_cannot_start_stops_the_run_with_what_to_do(monkeypatch):
    import verifiers.code

    monkeypatch.setattr(verifiers.code, "check_batch", _broken_code_batch)
    with pytest.raises(VerifierUnavailable) as error:
        check_verifiers({"code"}, timeout=5.0)
    message = str(error.value)
    assert "code verifier failed its start-up check: a known-correct answer was judged wrong" in message
    assert "sandbox_error: cannot start the interpreter /x/python" in message
    assert "FileNotFoundError" in message and sys.executable in message
    assert "What to do: run `python -m pytest tests/verifiers/test_sandbox.py`" in message


def test_a_verifier_that_accepts_everything_is_caught(monkeypatch):
    import verifiers.math

    monkeypatch.setattr(
        verifiers.math,
        "check_batch",
        lambda responses, golds, **kw: [Outcome(correct=True, score=1.0, reason="correct") for _ in responses],
    )
    with pytest.raises(VerifierUnavailable, match="math verifier .* a known-wrong answer was judged correct"):
        check_verifiers({"math"}, timeout=5.0)


def test_a_dead_sympy_worker_is_caught(monkeypatch):
    """Plain numbers are judged in-process; the sympy case of the check finds a worker that cannot compare."""
    from verifiers import _math_worker

    def dead(*args, **kwargs):
        raise RuntimeError("sympy worker died")

    monkeypatch.setattr(_math_worker.POOL, "compare", dead)
    with pytest.raises(
        VerifierUnavailable, match=r"(?s)math verifier.*internal_error: RuntimeError: sympy worker died"
    ):
        check_verifiers({"math"}, timeout=5.0)


def test_verifier_errors_counts_only_broken_verifiers():
    outcomes = [
        Outcome(False, 0.0, "wrong_answer: got 1, expected 2"),
        Outcome(False, 0.0, "timeout: 3 s"),
        Outcome(False, 0.0, "verifier_error: RuntimeError: boom"),
        Outcome(True, 1.0, "correct"),
        Outcome(False, 0.0, "internal_error: KeyError: 'x'"),
    ]
    assert verifier_errors(outcomes) == (2, "verifier_error: RuntimeError: boom")
    assert verifier_errors(outcomes[:2]) == (0, None)
    # A verifier that raises becomes error outcomes through the same path the loop uses.
    item = CASES["math"][0][0]
    import verifiers.math

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verifiers.math, "check_batch", lambda *a, **k: 1 / 0)
        assert verifier_errors(verify([item, item], ["\\boxed{5}"] * 2, timeout=1.0))[0] == 2


def test_the_command_stops_with_the_message_and_writes_nothing_but_its_config(tmp_path, monkeypatch):
    import policy.model
    import verifiers.code
    from orchestration.train_loop import main

    monkeypatch.setattr(policy.model, "load_policy", lambda *a, **k: pytest.fail("a model was loaded"))
    monkeypatch.setattr(verifiers.code, "check_batch", _broken_code_batch)
    with pytest.raises(SystemExit) as stop:
        main(["--output-dir", str(tmp_path / "run"), "--data.source", "humaneval"])
    assert str(stop.value).startswith("stopped: the code verifier failed its start-up check")
    assert sorted(os.listdir(tmp_path / "run")) == [".lock", "config.yaml"]
