"""The summary a run ends with, from hand-made metrics rows, and the command that prints it."""

import math

from orchestration.summary import run_summary


def test_summary_from_metrics_rows():
    rows = [
        {
            "step": 1,
            "eval/initial_greedy_accuracy": 0.5,
            "eval/initial_sampled_accuracy": 0.25,
            "rm/heldout_ranking_accuracy": math.nan,
            "verifier/errors": 0.0,
        },
        {
            "step": 2,
            "rm/heldout_ranking_accuracy": 0.75,
            "rm_frozen/heldout_ranking_accuracy": 0.5,
            "rm/hacking_alarm": 1.0,
            "verifier/errors": 2.0,
        },
        {
            "step": 3,
            "rm/heldout_ranking_accuracy": 0.25,
            "rm_frozen/heldout_ranking_accuracy": 1.0,
            "eval/greedy_accuracy": 0.875,
            "eval/sampled_accuracy": 0.5,
        },
    ]
    text = run_summary(rows, "runs/x")
    assert "done: 3 steps in runs/x" in text
    assert "held-out greedy accuracy: 0.500 -> 0.875" in text and "held-out sampled accuracy: 0.250 -> 0.500" in text
    assert "online 0.500, frozen first version 0.750" in text  # NaN steps left out of the means
    assert "reward-hacking alarm at steps [2]" in text and "verifier errors: 2 outcomes" in text
    parts = run_summary(
        [
            {"step": 1, "eval/initial_greedy_accuracy_word": 0.25, "eval/initial_greedy_format": 0.0},
            {"step": 2, "eval/greedy_accuracy_word": 0.5, "eval/greedy_accuracy_bare": 1.0, "eval/greedy_format": 0.75},
        ],
        "r",
    )
    assert "(bare — -> 1.000, word 0.250 -> 0.500)" in parts
    assert "held-out answers in the asked format: greedy 0.000 -> 0.750, sampled — -> —" in parts
    quiet = run_summary([{"step": 1}], "r")
    assert "0.000" not in quiet and "—" in quiet and "alarm" not in quiet and "RM held-out" not in quiet


def test_the_command_ends_with_plots_and_the_summary(tiny_run_args, tmp_path, capsys):
    from orchestration.train_loop import main

    out = tmp_path / "run"
    main(["--output-dir", str(out), *tiny_run_args(**{"loop.max_steps": 2})])
    printed = capsys.readouterr().out
    assert f"resolved config: {out / 'config.yaml'}" in printed and "max_steps:" not in printed
    assert "done: 2 steps" in printed and "held-out greedy accuracy:" in printed
    assert (out / "plots" / "heldout_accuracy.png").is_file()
    assert "reward plan: 1 * rm + 0.1 * format" in printed and "[eval, step 0] greedy" in printed
