"""benchmarks/rm_learning_curves.py: one results file holds fits on one sample (the sample's fingerprint), `fit`
skips the (variant, size, seed) cells a file holds, and `table` draws one table per backbone and sample, each with
its own surface-cue line, and summarises cells fitted with several seeds."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "rm_learning_curves.py"
spec = importlib.util.spec_from_file_location("benchmarks.rm_learning_curves", PATH)
curves = importlib.util.module_from_spec(spec)
spec.loader.exec_module(curves)


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
def test_fit_refuses_a_results_file_of_another_sample(tmp_path, recorded):
    data = write_sample(tmp_path / "data")
    output = tmp_path / "fits.json"
    old = {"backbone": "minilm", "variant": "free", "size": 64}
    if recorded:
        old["sample"] = recorded
    output.write_text(json.dumps([old]))
    before = output.read_text()
    with pytest.raises(SystemExit) as err:
        curves.main(
            ["fit", "--data-dir", str(data), "--output", str(output), "--sizes", "64", "--threads", "0"]
        )  # 0: torch threads untouched
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


def test_fit_skips_the_seeds_a_file_holds(tmp_path, monkeypatch):
    data = write_sample(tmp_path / "data", train_prompts=8)
    output = tmp_path / "fits.json"
    sample = curves.sample_fingerprint(str(data))
    output.write_text(json.dumps([{**result(sample, 64, 0.6, 100), "variant": "aware"}]))  # seed 0, unrecorded
    monkeypatch.setattr(curves, "read_rows", lambda data_dir, name: [SimpleNamespace(group="train:7")])
    fitted = []

    def fake_fit_one(args, rows, seen, unseen, backbone, variant, size, seed):
        fitted.append((variant, size, seed))
        return {**result(sample, size, 0.6, 100, seed=seed), "variant": variant}

    monkeypatch.setattr(curves, "fit_one", fake_fit_one)
    argv = ["fit", "--data-dir", str(data), "--output", str(output), "--sizes", "64", "--threads", "0"]
    curves.main([*argv, "--variants", "aware", "free", "--seeds", "0", "1"])
    assert fitted == [("aware", 64, 1), ("free", 64, 0), ("free", 64, 1)]
    held = json.loads(output.read_text())
    assert [(r["variant"], r.get("seed", 0)) for r in held] == [("aware", 0), ("aware", 1), ("free", 0), ("free", 1)]
    curves.main([*argv, "--variants", "aware", "free", "--seed", "1"])  # all held: nothing fitted again
    assert len(fitted) == 3 and len(json.loads(output.read_text())) == 4


LOOP_FIT = {"backbone": "minilm", "reference": False, "config": {}, "updates": [{"update": 1}], "unseen": {}}


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

    def no_rows(data_dir, name):
        raise AssertionError("read the outcomes of a run that cannot write its results")

    monkeypatch.setattr(curves, "read_rows", no_rows)
    with pytest.raises(SystemExit) as err:
        curves.main(["fit", "--data-dir", str(data), "--output", str(loops), "--threads", "0"])
    assert str(err.value).startswith(f"{loops}, result 0 was written by `loop-fits`")
    with pytest.raises(SystemExit) as err:
        curves.main(["loop-fits", "--data-dir", str(data), "--output", str(fits), "--threads", "0"])
    assert str(err.value).startswith(f"{fits}, result 0 was written by `fit`")
    assert (loops.read_text(), fits.read_text()) == before
