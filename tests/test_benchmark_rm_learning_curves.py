"""benchmarks/rm_learning_curves.py: one results file holds fits on one sample (the sample's fingerprint), `fit`
skips the (cell, seed) fits a file holds (a cell: variant with its hard negatives per correct outcome, size,
trainer config), and `table` draws one table per backbone and sample, each with its own surface-cue line, and
summarises cells fitted with several seeds."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "rm_learning_curves.py"
spec = importlib.util.spec_from_file_location("benchmarks.rm_learning_curves", PATH)
curves = importlib.util.module_from_spec(spec)
spec.loader.exec_module(curves)


LOOP_FIT = {"backbone": "minilm", "reference": False, "config": {}, "updates": [{"update": 1}], "unseen": {}}


def no_rows(data_dir, name):
    raise AssertionError("read the outcomes of a run that cannot write its results")


def write_sample(directory: Path, unseen: str = "u\n", train_prompts: int = 2) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    train = "".join(
        json.dumps({"group": f"train:{i}", "response": f"r{i}.{j}"}) + "\n"
        for i in range(train_prompts)
        for j in (0, 1)
    )
    for name, text in (("train", train), ("seen", "s\n"), ("unseen", unseen)):
        (directory / f"{name}.jsonl").write_text(text)
    return directory


def test_fingerprint_follows_the_held_out_sets_bytes(tmp_path):
    a = curves.sample_fingerprint(str(write_sample(tmp_path / "a")))
    assert a == curves.sample_fingerprint(str(write_sample(tmp_path / "a_again")))
    assert a != curves.sample_fingerprint(str(write_sample(tmp_path / "b", unseen="u2\n")))
    assert len(a) == 12 and int(a, 16) >= 0
    # sampling resumed with more training prompts: the same sample, and the same rows for a fit on the first two
    longer = str(write_sample(tmp_path / "longer", train_prompts=3))
    assert curves.sample_fingerprint(longer) == a
    assert curves.train_fingerprint(longer, 2) == curves.train_fingerprint(str(tmp_path / "a"), 2)
    assert curves.train_fingerprint(longer, 3) != curves.train_fingerprint(longer, 2)


@pytest.mark.parametrize("recorded", [None, "0123456789ab"])
@pytest.mark.parametrize("command", ["fit", "loop-fits"])
def test_fit_and_loop_fits_refuse_a_results_file_of_another_sample(tmp_path, monkeypatch, recorded, command):
    data = write_sample(tmp_path / "data")
    output = tmp_path / "fits.json"
    old = {"backbone": "minilm", "variant": "free", "size": 64} if command == "fit" else dict(LOOP_FIT)
    if recorded:
        old["sample"] = recorded
    output.write_text(json.dumps([old]))
    before = output.read_text()
    monkeypatch.setattr(curves, "read_rows", no_rows)  # refused before reading the outcomes
    with pytest.raises(SystemExit) as err:
        curves.main([command, "--data-dir", str(data), "--output", str(output), "--threads", "0"])
    message = str(err.value)
    assert str(output) in message and curves.sample_fingerprint(str(data)) in message
    assert (recorded or "not recorded") in message
    assert output.read_text() == before  # nothing written over


def result(
    sample: str, size: int, shorter: float, pairs: int, seed=None, unseen_accuracy=0.75, epochs=3, variant="free"
) -> dict:
    figures = {"ranking_accuracy": 0.75, "interval": [0.7, 0.8], "by_kind": {}}
    unseen = {
        **figures,
        "ranking_accuracy": unseen_accuracy,
        "by_kind": {"near_miss": {"ranking_accuracy": unseen_accuracy - 0.1, "interval": [0.0, 1.0]}},
        "baselines": {"shorter_is_better": shorter, "not_truncated_is_better": 0.5},
    }
    fit = {
        "sample": sample,
        "backbone": "minilm",
        "variant": variant,
        "size": size,
        "records": size,
        "config": {"epochs": epochs},
        "fit": {"train_loss": 0.3, "constant_loss": 0.5, "steps": 64.0},
        "fit_seconds": 10.0,
        "seen": figures,
        "unseen": {**unseen, "n_pairs": pairs, "n_groups": 8},
    }
    if seed is not None:  # None: a fit from before seeds were recorded (seed 0)
        fit["seed"] = seed
    return fit


def test_table_draws_one_table_per_sample(tmp_path, capsys):
    path = tmp_path / "fits.json"
    path.write_text(
        json.dumps([result("aaa", 64, 0.61, 100), result("bbb", 64, 0.72, 90), result("aaa", 256, 0.61, 100)])
    )
    curves.main(["table", str(path)])
    out = capsys.readouterr().out
    assert out.count("**minilm**, sample aaa") == 1 and out.count("**minilm**, sample bbb") == 1
    tables = out.split("**minilm**")[1:]
    assert [t.count("| free |") for t in tables] == [2, 1]  # sample aaa's two sizes together
    assert "shorter is better 0.610" in tables[0] and "(100 pairs" in tables[0]
    assert "shorter is better 0.720" in tables[1] and "(90 pairs" in tables[1]
    assert "| 64 | 10 |" in tables[0]  # optimizer steps, then fit seconds
    assert "| free | 64 | 0 |" in tables[0]  # no seed recorded: seed 0
    assert "across fit seeds" not in out  # one seed per cell: no summary


def test_table_summarises_a_cell_over_its_seeds(tmp_path, capsys):
    path = tmp_path / "fits.json"
    fits = [
        result("aaa", 64, 0.6, 100, seed=None, unseen_accuracy=0.70),  # seed 0, recorded before seeds were
        result("aaa", 64, 0.6, 100, seed=1, unseen_accuracy=0.80),
        result("aaa", 64, 0.6, 100, seed=2, unseen_accuracy=0.90),
        result("aaa", 64, 0.6, 100, seed=0, unseen_accuracy=0.50, epochs=12),  # another trainer config
        result("aaa", 256, 0.6, 100, seed=0),
    ]
    path.write_text(json.dumps(fits))
    curves.main(["table", str(path)])
    out = capsys.readouterr().out
    summary = out.split("across fit seeds")[1]
    rows = [line for line in summary.splitlines() if line.startswith("| free |")]
    # mean of 0.70, 0.80, 0.90 and its range; near misses 0.1 lower; seen 0.75 each; the 12-epoch fit and the
    # single-seed 256 cell are not summarised
    assert rows == [
        "| free | 64 | 64 | 0, 1, 2 | 0.800 [0.70, 0.90] | 0.700 [0.60, 0.80] | 0.750 [0.75, 0.75] "
        "| 0.700 0.800 0.900 |"
    ]


def test_table_pairs_variants_by_seed(tmp_path, capsys):
    path = tmp_path / "fits.json"
    fits = [
        result("aaa", 64, 0.6, 100, seed=None, unseen_accuracy=0.60),  # seed 0
        result("aaa", 64, 0.6, 100, seed=1, unseen_accuracy=0.70),
        result("aaa", 64, 0.6, 100, seed=0, unseen_accuracy=0.55, variant="free+hn"),
        result("aaa", 64, 0.6, 100, seed=1, unseen_accuracy=0.68, variant="free+hn"),
        result("aaa", 64, 0.6, 100, seed=2, unseen_accuracy=0.90, variant="free+hn"),  # no reference-free seed 2
        result("aaa", 64, 0.6, 100, seed=0, unseen_accuracy=0.80, variant="aware", epochs=12),  # another config
        result("aaa", 256, 0.6, 100, seed=0, unseen_accuracy=0.62),
        result("aaa", 256, 0.6, 100, seed=0, unseen_accuracy=0.71, variant="aware"),
    ]
    path.write_text(json.dumps(fits))
    curves.main(["table", str(path)])
    out = capsys.readouterr().out
    paired = out.split("paired per-seed differences")[1]
    rows = [line for line in paired.splitlines() if line.startswith("| free+hn") or line.startswith("| aware")]
    # 0.55 - 0.60 and 0.68 - 0.70; seed 2 has no partner, the 12-epoch fit no partner with its config
    assert rows == [
        "| free+hn − free | 64 | 0, 1 | -0.035 [-0.050, -0.020] | -0.050 -0.020 |",
        "| aware − free | 256 | 0 | +0.090 [+0.090, +0.090] | +0.090 |",
    ]


# the trainer config `fit` records for MiniLM with its default flags
MINILM_CONFIG = {"epochs": 4, "min_steps": 64, "batch_size": 32, "lr_encoder": 5e-05, "lr_head": 0.001}


def test_fit_skips_the_cells_and_seeds_a_file_holds(tmp_path, monkeypatch):
    data = write_sample(tmp_path / "data", train_prompts=8)
    output = tmp_path / "fits.json"
    sample = curves.sample_fingerprint(str(data))
    held = {**result(sample, 64, 0.6, 100), "variant": "aware", "config": {**MINILM_CONFIG, "trainable_layers": None}}
    output.write_text(json.dumps([held]))  # seed 0 and one rewrite per correct outcome, unrecorded
    monkeypatch.setattr(curves, "read_rows", lambda data_dir, name: [SimpleNamespace(group="train:7")])
    fitted = []

    def fake_fit_one(args, rows, seen, unseen, backbone, variant, size, seed):
        planned = curves.planned_fit(args, backbone, variant, size, seed)
        fitted.append((variant, size, seed, planned["config"]["epochs"], planned["rewrites_per_correct"]))
        return {**result(sample, size, 0.6, 100, seed=seed), **planned}

    monkeypatch.setattr(curves, "fit_one", fake_fit_one)
    argv = ["fit", "--data-dir", str(data), "--output", str(output), "--sizes", "64", "--threads", "0"]
    curves.main([*argv, "--variants", "aware", "free", "--seeds", "0", "1"])
    assert fitted == [("aware", 64, 1, 4, 0), ("free", 64, 0, 4, 0), ("free", 64, 1, 4, 0)]
    rows = json.loads(output.read_text())
    assert [(r["variant"], r.get("seed", 0)) for r in rows] == [("aware", 0), ("aware", 1), ("free", 0), ("free", 1)]
    curves.main([*argv, "--variants", "aware", "free", "--seed", "1"])  # all held: nothing fitted again
    assert len(fitted) == 3 and len(json.loads(output.read_text())) == 4
    # another trainer config or another number of hard negatives is another cell: fitted, not skipped
    curves.main([*argv, "--variants", "aware", "--seed", "0", "--epochs", "12"])
    curves.main([*argv, "--variants", "aware+hn", "--seed", "0"])
    curves.main([*argv, "--variants", "aware+hn", "--seed", "0", "--hard-negatives", "2"])
    curves.main([*argv, "--variants", "aware+hn", "--seed", "0", "--hard-negatives", "2"])  # held now
    assert fitted[3:] == [("aware", 64, 0, 12, 0), ("aware+hn", 64, 0, 4, 1), ("aware+hn", 64, 0, 4, 2)]
    assert len(json.loads(output.read_text())) == 7


def test_table_keeps_fits_with_more_hard_negatives_apart(tmp_path, capsys):
    path = tmp_path / "fits.json"
    fits = [
        result("aaa", 64, 0.6, 100, seed=s, unseen_accuracy=a, variant=v)
        for v, accuracies in (("aware", (0.60, 0.70)), ("aware+hn", (0.80, 0.82)))
        for s, a in enumerate(accuracies)
    ] + [
        {**result("aaa", 64, 0.6, 100, seed=s, unseen_accuracy=a, variant="aware+hn"), "rewrites_per_correct": 2}
        for s, a in enumerate((0.90, 0.96))
    ]
    path.write_text(json.dumps(fits))
    curves.main(["table", str(path)])
    out = capsys.readouterr().out
    assert "| aware+hn×2 | 64 | 0 |" in out and "| aware+hn×2 | 64 | 1 |" in out  # the per-fit rows
    summary = out.split("across fit seeds")[1].split("paired")[0]
    assert "| aware+hn | 64 | 64 | 0, 1 | 0.810 [0.80, 0.82] |" in summary
    assert "| aware+hn×2 | 64 | 64 | 0, 1 | 0.930 [0.90, 0.96] |" in summary
    paired = [line for line in out.split("paired per-seed differences")[1].splitlines() if line.startswith("| aware")]
    assert paired == ["| aware+hn − aware | 64 | 0, 1 | +0.160 [+0.120, +0.200] | +0.200 +0.120 |"]


def test_table_names_a_file_of_loop_fits(tmp_path):
    fits, loops = tmp_path / "fits.json", tmp_path / "loop_fits.json"
    fits.write_text(json.dumps([result("aaa", 64, 0.6, 100)]))
    loops.write_text(json.dumps([LOOP_FIT]))
    with pytest.raises(SystemExit) as err:
        curves.main(["table", str(fits), str(loops)])
    message = str(err.value)
    assert message.startswith(f"{loops}, result 0 ") and "`loop-fits`" in message and "`table`" in message


@pytest.mark.parametrize("content", [{"variant": "free"}, [result("aaa", 64, 0.6, 100), "free"]])
def test_table_refuses_what_is_not_a_list_of_fits(tmp_path, content):
    path = tmp_path / "fits.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SystemExit) as err:
        curves.main(["table", str(path)])
    assert str(path) in str(err.value)
    if isinstance(content, list):
        assert f"{path}, result 1 has no 'variant' field" in str(err.value)


def test_fit_and_loop_fits_refuse_each_others_files_before_fitting(tmp_path, monkeypatch):
    data = write_sample(tmp_path / "data")
    loops, fits = tmp_path / "loop_fits.json", tmp_path / "fits.json"
    loops.write_text(json.dumps([LOOP_FIT]))
    fits.write_text(json.dumps([result(curves.sample_fingerprint(str(data)), 64, 0.6, 100)]))
    before = (loops.read_text(), fits.read_text())
    monkeypatch.setattr(curves, "read_rows", no_rows)  # refused before reading the outcomes
    with pytest.raises(SystemExit) as err:
        curves.main(["fit", "--data-dir", str(data), "--output", str(loops), "--threads", "0"])
    assert str(err.value).startswith(f"{loops}, result 0 was written by `loop-fits`")
    with pytest.raises(SystemExit) as err:
        curves.main(["loop-fits", "--data-dir", str(data), "--output", str(fits), "--threads", "0"])
    assert str(err.value).startswith(f"{fits}, result 0 was written by `fit`")
    assert (loops.read_text(), fits.read_text()) == before


def loop_fit(seed, reference, unseen_accuracy, losses, heldout=(None, 0.6, 0.8), steps=(4, 6, 8)) -> dict:
    """A `loop-fits` result of three updates; `losses` are the updates' (train loss, constant loss)."""
    updates = [
        {"update": u + 1, "heldout_before_fit": h, "steps": n, "train_loss": loss, "constant_loss": constant}
        for u, (h, n, (loss, constant)) in enumerate(zip(heldout, steps, losses))
    ]
    return {
        **LOOP_FIT,
        "sample": "aaa",
        "seed": seed,
        "reference": reference,
        "hard_negatives": 1 if reference else 0,
        "replay_fraction": 0.1,
        "rows_per_update": 64,
        "config": {"epochs": 2, "min_steps": 0, "lr_encoder": 5e-5, "lr_head": 1e-3, "trainable_layers": None},
        "updates": updates,
        "unseen": {
            "ranking_accuracy": unseen_accuracy,
            "interval": [unseen_accuracy - 0.05, unseen_accuracy + 0.05],
            "by_kind": {"near_miss": {"ranking_accuracy": 0.5, "interval": [0.4, 0.6]}},
        },
    }


def test_loop_table_counts_fits_below_the_constant_and_pairs_seeds(tmp_path, capsys):
    path = tmp_path / "loop_fits.json"
    below, above, perfect = (0.3, 0.6), (0.7, 0.6), (0.0, 0.6)
    path.write_text(
        json.dumps(
            [
                loop_fit(0, False, 0.70, [below, above, below]),
                loop_fit(1, False, 0.66, [below, below, below], steps=(32, 32, 32)),
                loop_fit(0, True, 0.90, [perfect, below, above], heldout=(None, 0.7, None)),
                loop_fit(1, True, 0.96, [below, below, below]),
                loop_fit(2, True, 0.99, [below, below, below]),  # no reference-free seed 2
            ]
        )
    )
    curves.main(["loop-table", str(path)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| free |") or line.startswith("| aware+hn |")]
    assert rows[0] == (
        "| free | 0 | 0 | 3 × 64 | 2 | 0 | 5e-05 / 0.001 | 4–8 | 2 of 3 | 0.700 | 0.700 [0.65, 0.75] "
        "| 0.500 [0.40, 0.60] |"
    )
    assert "| 32 | 3 of 3 | 0.700 | 0.660 [0.61, 0.71] |" in rows[1]
    assert "| aware+hn | 1 | 0 | 3 × 64 |" in rows[2] and "| 2 of 3 | 0.700 | 0.900 [0.85, 0.95] |" in rows[2]
    # seeds' summary: outcomes 3 x 64, optimizer steps of seed 0's updates, no seen set
    assert "| aware+hn | 192 | 18 | 0, 1, 2 | 0.950 [0.90, 0.99] | 0.500 [0.50, 0.50] | – | 0.900 0.960 0.990 |" in out
    # 0.90 - 0.70 and 0.96 - 0.66; seed 2 has no reference-free partner
    assert "| aware+hn − free | 192 | 0, 1 | +0.250 [+0.200, +0.300] | +0.200 +0.300 |" in out


def test_loop_table_refuses_fit_results(tmp_path):
    path = tmp_path / "fits.json"
    path.write_text(json.dumps([result("aaa", 64, 0.6, 100)]))
    with pytest.raises(SystemExit) as err:
        curves.main(["loop-table", str(path)])
    assert str(err.value).startswith(f"{path}, result 0 was written by `fit`") and "`loop-table`" in str(err.value)


def test_loop_table_keeps_runs_with_more_hard_negatives_apart(tmp_path, capsys):
    path = tmp_path / "loop_fits.json"
    losses = [(0.3, 0.6)] * 3
    runs = [loop_fit(s, True, a, losses) for s, a in ((0, 0.90), (1, 0.92))]
    runs += [{**loop_fit(s, True, a, losses), "hard_negatives": 2} for s, a in ((0, 0.97), (1, 0.99))]
    path.write_text(json.dumps(runs))
    curves.main(["loop-table", str(path)])
    out = capsys.readouterr().out
    summary = out.split("across fit seeds")[1]
    assert "| aware+hn | 192 | 18 | 0, 1 | 0.910 [0.90, 0.92] |" in summary
    assert "| aware+hn×2 | 192 | 18 | 0, 1 | 0.980 [0.97, 0.99] |" in summary
