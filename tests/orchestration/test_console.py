"""What a run prints: the evaluation line, the time left, the announced phases."""

import pytest

from orchestration.console import Console, StepClock, eval_line, format_seconds


def test_time_left_is_the_median_step_after_the_first_plus_the_evaluations_to_come():
    clock = StepClock()
    assert clock.remaining(10, 2) is None
    clock.record_step(600.0)  # the first step: warm-up, the longest completions
    assert clock.remaining(10, 2) is None  # not typical: no estimate yet
    for seconds in (10.0, 30.0, 20.0):
        clock.record_step(seconds)
    assert clock.remaining(10, 0) == pytest.approx(200.0)  # median(10, 30, 20) = 20 per step
    clock.record_eval(45.0)
    assert clock.remaining(10, 2) == pytest.approx(200.0 + 2 * 45.0)


def test_format_seconds():
    assert format_seconds(3.21) == "3.2 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(3 * 3600 + 7 * 60) == "3 h 07 min"
    assert format_seconds(-1) == "0.0 s"


def test_eval_line_gives_each_part_and_the_asked_format():
    metrics = {
        "eval/greedy_accuracy": 0.875,
        "eval/greedy_accuracy_bare": 1.0,
        "eval/greedy_accuracy_word": 0.75,
        "eval/sampled_accuracy": 0.5,
        "eval/greedy_format": 0.25,
        "eval/sampled_format": 0.125,
        "eval/greedy_verifier_errors": 1.0,
    }
    line = eval_line(8, metrics)
    assert line == (
        "[eval, step 8] greedy 0.875 (bare 1.00, word 0.75) | sampled 0.500 | "
        "in the asked format: greedy 0.25, sampled 0.12"
    )
    initial = {"eval/initial_greedy_accuracy": 0.5}
    assert eval_line(0, initial, "eval/initial_") == "[eval, step 0] greedy 0.500"


def test_announce_says_what_starts_and_how_long_it_took(capsys):
    with Console().announce("loading the policy"):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "loading the policy ..." and out[1].startswith("loading the policy: done (")
    with Console(enabled=False).announce("quiet"):
        pass
    assert capsys.readouterr().out == ""
