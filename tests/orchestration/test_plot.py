import json

from orchestration.plot import plot_run, series


def test_plot_run_writes_a_png_per_panel_with_data(tmp_path):
    rows = [{"step": s, "reward/mean": 0.1 * s, "verifier/accuracy": 0.5, "rm/heldout_ranking_accuracy": None,
             "timing/generate": 1.0} for s in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = plot_run(str(tmp_path))
    names = sorted(p.rsplit("/", 1)[1] for p in written)
    assert names == ["reward.png", "seconds_per_stage.png", "verified_accuracy.png"]
    for path in written:
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert series(rows, "rm/heldout_ranking_accuracy") == ([], [])  # None (NaN in the log) is not drawn
    evals = [{"step": 1, "eval/initial_greedy_accuracy": 0.5}, {"step": 8, "eval/greedy_accuracy": 0.75}]
    assert series(evals, "eval/greedy_accuracy") == ([0, 8], [0.5, 0.75])
