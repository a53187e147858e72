import json
import math

from orchestration.plot import heldout_parts, plot_run, series


def _write(tmp_path, rows):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_plot_run_writes_a_png_per_panel_with_data(tmp_path):
    rows = [
        {
            "step": s,
            "reward/mean": 0.1 * s,
            "verifier/accuracy": 0.5,
            "rm/heldout_ranking_accuracy": None,
            "timing/generate": 1.0,
        }
        for s in range(1, 6)
    ]
    _write(tmp_path, rows)
    written = plot_run(str(tmp_path))
    names = sorted(p.rsplit("/", 1)[1] for p in written)
    assert names == ["seconds_per_stage.png", "training_batch.png"]  # nothing else has a value to draw
    for path in written:
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert series(rows, "rm/heldout_ranking_accuracy") == ([], [])  # None (NaN in the log) is not drawn
    evals = [{"step": 1, "eval/initial_greedy_accuracy": 0.5}, {"step": 8, "eval/greedy_accuracy": 0.75}]
    assert series(evals, "eval/greedy_accuracy") == ([0, 8], [0.5, 0.75])


def test_a_step_without_rm_pairs_is_a_gap_not_a_point():
    rows = [
        {"step": 1, "rm/heldout_ranking_accuracy": 0.75, "rm/heldout_pairs": 8},
        {"step": 2, "rm/heldout_ranking_accuracy": None, "rm/heldout_pairs": 0},
        {"step": 3, "rm/heldout_ranking_accuracy": 0.0, "rm/heldout_pairs": 1},
        {"step": 4},
    ]  # a row that did not log the key at all is neither point nor gap
    steps, values = series(rows, "rm/heldout_ranking_accuracy", gaps=True)
    assert steps == [1, 2, 3] and values[0] == 0.75 and math.isnan(values[1]) and values[2] == 0.0


def test_heldout_accuracy_and_rm_panels_with_their_parts(tmp_path):
    rows = [
        {
            "step": 1,
            "eval/initial_greedy_accuracy": 0.5,
            "eval/initial_greedy_accuracy_bare": 0.75,
            "eval/initial_greedy_accuracy_word": 0.25,
            "eval/initial_sampled_accuracy": 0.3,
            "rm/heldout_ranking_accuracy": None,
            "rm/heldout_pairs": 0,
        },
        {
            "step": 2,
            "eval/greedy_accuracy": 0.6,
            "eval/greedy_accuracy_bare": 0.8,
            "eval/greedy_accuracy_word": 0.4,
            "eval/greedy_format": 0.5,
            "rm/heldout_ranking_accuracy": 0.7,
            "rm/heldout_pairs": 12,
        },
    ]
    assert heldout_parts(rows) == ["bare", "word"]
    _write(tmp_path, rows)
    names = sorted(p.rsplit("/", 1)[1] for p in plot_run(str(tmp_path)))
    assert names == ["asked_format.png", "heldout_accuracy.png", "rm_heldout.png"]
