"""The per-step figures the process-supervision measurements report (benchmarks/step_accuracy.py on a run's
training samples, benchmarks/bench_base_policy.py on the base policy), on hand-made completions."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestration.multistep import MultiStepTasks
from verifiers import Outcome


def _benchmark(name: str):
    """A benchmark script as a module (benchmarks/ is not an installed package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BASE = _benchmark("bench_base_policy")
bootstrap_interval, step_figures = _BASE.bootstrap_interval, _BASE.step_figures
window_figures = _benchmark("step_accuracy").window_figures

HONEST = "6 + 6 = 12\n12 * 2 = 24\n\\boxed{24}"  # 3 steps: 2 true claims, then the answer (no claim)
REPEATER = "6 + 6 = 12\n6 + 6 = 12\n6+6 = 12\n12 * 2 = 25"  # 4 steps: 3 claims true (2 repeats), 1 false


def test_window_figures_by_hand():
    rows = [SimpleNamespace(response=HONEST, correct=True), SimpleNamespace(response=REPEATER, correct=False)]
    figures = window_figures(rows)
    # 7 steps over 2 completions; 6 make a claim (5 true, 1 false); 2 of the 7 repeat an earlier step.
    assert figures == pytest.approx(
        {
            "accuracy": 0.5,
            "steps_per_completion": 3.5,
            "verifiable_steps": 6 / 7,
            "true_of_verifiable": 5 / 6,
            "repeated_steps": 2 / 7,
        }
    )


def test_step_figures_by_hand():
    item = MultiStepTasks(1, "train").item(0)  # level 1: at most 2 operations + 1 = 3 rewarded steps
    right, wrong = Outcome(True, 1.0, "correct"), Outcome(False, 0.0, "wrong_answer")
    doubling = "6 + 6 = 12\n12 + 12 = 24\n24 + 24 = 48\n48 + 48 = 96\n\\boxed{97}"
    figures = step_figures([HONEST, REPEATER, doubling], [item] * 3, [right, wrong, wrong])
    # Rewarded: honest 3 (two true steps and its right answer); repeater 1 (the first true step; its repeats earn
    # 0 and its last step is a false claim and a wrong answer); doubling 2 (four true new steps, bounded at two
    # before the answer, which is wrong). Steps 3 + 4 + 5 = 12, with a claim 2 + 4 + 4 = 10, false 1.
    assert figures == pytest.approx(
        {
            "steps_per_completion": 4.0,
            "verifiable_steps": 10 / 12,
            "wrong_steps": 1 / 10,
            "repeated_steps": 2 / 12,
            "rewarded_steps_per_completion": 2.0,
        }
    )


def test_bootstrap_interval_brackets_the_mean_and_collapses_without_spread():
    assert bootstrap_interval([0.5] * 20) == (0.5, 0.5)
    low, high = bootstrap_interval([0.0] * 10 + [1.0] * 10)
    assert low < 0.5 < high and 0.2 < low and high < 0.8  # mean 0.5, standard error 0.11
