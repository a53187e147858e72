"""The built-in study: intervals by hand, aggregation, and a tiny end-to-end study that resumes."""

import json
import math
import os

import pytest

from orchestration.study import ARMS
from orchestration.study_report import aggregate
from orchestration.study_stats import interval


def test_interval_hand_computed():
    # mean 2, sample sd 1, t(0.975, df=2) = 4.302653: half-width 4.302653 / sqrt(3) = 2.484138
    cell = interval([1.0, 2.0, 3.0])
    assert cell["mean"] == 2.0 and cell["n"] == 3
    assert cell["high"] - cell["mean"] == pytest.approx(2.484138, abs=1e-6)
    assert cell["mean"] - cell["low"] == pytest.approx(2.484138, abs=1e-6)
    one = interval([0.5, math.nan, None])  # NaN and missing values dropped; one value has no interval
    assert one["mean"] == 0.5 and one["n"] == 1 and math.isnan(one["low"])
    assert interval([])["n"] == 0


def _run(before, after, rm, alarms=0, step_seconds=(2.0, 4.0, 3.0), pairs=None):
    return {
        "evals": ["greedy_accuracy", "sampled_accuracy"],
        "before_greedy_accuracy": before,
        "before_sampled_accuracy": before,
        "after_greedy_accuracy": after,
        "after_sampled_accuracy": after,
        "rm_heldout": rm,
        "rm_pairs": pairs or [0 if v is None else 4 for v in rm],
        "rm_frozen_heldout": [None, 0.5, 0.5],
        "rm_frozen_pairs": [0, 2, 2],
        "alarms": alarms,
        "step_seconds": list(step_seconds),
        "train_accuracy": [0.5, 0.6, 0.7],
        "commits": ["abc"],
    }


def test_aggregate_takes_before_from_the_seed_and_changes_per_seed():
    runs = {
        ("a", 0): _run(0.4, 0.6, [None, 1.0, 0.5]),
        ("b", 0): _run(None, 0.5, [None, None, None], alarms=2),
        ("a", 1): _run(None, 0.8, [None, 0.25, 0.25]),
        ("b", 1): _run(0.6, 0.7, [None, None, None]),
    }
    summary = aggregate(runs, ["a", "b"], [0, 1])
    table = summary["arms"]
    assert summary["baseline"] == "a"
    # seed 0's base policy comes from arm a, seed 1's from arm b: both arms share them
    assert (
        table["a"]["before_greedy_accuracy"]["mean"]
        == table["b"]["before_greedy_accuracy"]["mean"]
        == pytest.approx(0.5)
    )
    assert table["a"]["change_greedy_accuracy"]["mean"] == pytest.approx(((0.6 - 0.4) + (0.8 - 0.6)) / 2)
    assert table["b"]["change_sampled_accuracy"]["mean"] == pytest.approx(((0.5 - 0.4) + (0.7 - 0.6)) / 2)
    # pair-weighted: 4 pairs at each of 1.0, 0.5, 0.25, 0.25 -> 2.0 / 4
    assert table["a"]["rm_heldout"]["mean"] == pytest.approx(0.5) and table["a"]["rm_heldout"]["n"] == 16
    assert table["b"]["rm_heldout"]["n"] == 0 and table["b"]["alarms"] == 2
    assert table["a"]["median_step_seconds"] == 3.0
    # paired: b - a per seed (0.5 - 0.6, 0.7 - 0.8) = -0.1 twice: mean -0.1, no spread
    assert table["b"]["vs_baseline_greedy_accuracy"]["mean"] == pytest.approx(-0.1)
    assert table["b"]["vs_baseline_greedy_accuracy"]["high"] - table["b"]["vs_baseline_greedy_accuracy"][
        "low"
    ] == pytest.approx(0.0, abs=1e-12)
    assert "vs_baseline_greedy_accuracy" not in table["a"]


def test_rm_figures_weigh_every_pair_once_with_a_bootstrap_interval():
    from orchestration.study_stats import pair_weighted

    # a step of 2 pairs at 0.0 and one of 38 pairs at 1.0: 38/40, where the mean of step means says 0.5
    cell = pair_weighted([(0.0, 2), (1.0, 38), (None, 0)])
    assert cell["mean"] == pytest.approx(0.95) and cell["n"] == 40
    assert 0.0 <= cell["low"] <= cell["mean"] <= cell["high"] <= 1.0
    mean_only = pair_weighted([(0.0, 2), (1.0, 38), (None, 0)], samples=0)  # no resampling: no interval
    assert mean_only["mean"] == cell["mean"] and mean_only["n"] == 40 and math.isnan(mean_only["low"])
    assert pair_weighted([(0.5, 0), (None, 3)])["n"] == 0
    assert pair_weighted([(0.7, 5)] * 3) == {
        "mean": pytest.approx(0.7),
        "low": pytest.approx(0.7),
        "high": pytest.approx(0.7),
        "n": 15,
    }


def test_accuracy_intervals_stay_inside_their_range():
    cell = interval([0.95, 1.0, 0.7], (0.0, 1.0))
    assert cell["high"] == 1.0 and cell["low"] >= 0.0
    assert interval([-0.9, 0.1, -0.2], (-1.0, 1.0))["low"] == -1.0


def test_runs_from_several_commits_are_refused_unless_allowed():
    from orchestration.study_report import MixedCommits, check_commits

    runs = {("a", 0): _run(0.4, 0.6, [None]), ("b", 0): {**_run(0.4, 0.5, [None]), "commits": ["def"]}}
    with pytest.raises(MixedCommits, match=r"abc: a-seed0; def: b-seed0.*--allow-mixed-commits"):
        check_commits(runs, allow_mixed=False)
    assert check_commits(runs, allow_mixed=True) == ["abc", "def"]
    assert check_commits({("a", 0): runs["a", 0]}, allow_mixed=False) == ["abc"]


def test_every_arm_has_a_description_and_valid_overrides():
    from orchestration.config import load_config
    from orchestration.study import DEFAULTS

    assert {"verifier", "rm", "frozen_rm", "mix", "online_rft", "rft"} <= set(ARMS)
    for arm, (text, overrides) in ARMS.items():
        assert text and load_config(None, [*DEFAULTS, *overrides]).loop.max_steps == 16, arm


def test_lora_arm_is_the_mix_arm_with_configs_lora_yaml():
    from pathlib import Path

    from orchestration.config import load_config
    from orchestration.study import DEFAULTS

    lora_yaml = load_config(str(Path(__file__).resolve().parents[2] / "configs" / "lora.yaml"), DEFAULTS)
    arm = load_config(None, [*DEFAULTS, *ARMS["lora"][1]])
    mix = load_config(None, [*DEFAULTS, *ARMS["mix"][1]])
    assert arm.policy.lora == lora_yaml.policy.lora and arm.grpo.lr == lora_yaml.grpo.lr == 1e-4
    assert arm.loop == mix.loop and arm.data == mix.data and mix.policy.lora is None


def test_arms_share_the_base_policy_only_with_arms_of_the_same_data():
    from orchestration.study_arms import data_overrides as _data

    assert _data("verifier") == _data("rm") == []
    assert _data("curriculum") == ["--data.levels=[1, 2]", "--data.curriculum=true"]
    assert _data("mixed_levels") == ["--data.levels=[1, 2]"]
    runs = {("verifier", 0): _run(0.4, 0.6, [None]), ("mixed_levels", 0): _run(0.7, 0.9, [None])}
    table = aggregate(runs, ["verifier", "mixed_levels"], [0])["arms"]
    assert table["mixed_levels"]["before_greedy_accuracy"]["mean"] == 0.7  # its own held-out set, not level 2's
    assert table["verifier"]["before_greedy_accuracy"]["mean"] == 0.4


def test_per_level_figures_get_their_own_table(tmp_path):
    from orchestration.study_report import markdown, summarize_run

    rows = [
        {
            "eval/initial_greedy_accuracy": 0.5,
            "eval/initial_greedy_accuracy_level1": 0.75,
            "eval/initial_greedy_accuracy_level2": 0.25,
            "verifier/accuracy": 0.5,
        },
        {
            "eval/greedy_accuracy": 0.625,
            "eval/greedy_accuracy_level1": 1.0,
            "eval/greedy_accuracy_level2": 0.25,
            "verifier/accuracy": 0.75,
        },
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = summarize_run(str(tmp_path))
    assert run["evals"] == ["greedy_accuracy", "sampled_accuracy", "greedy_accuracy_level1", "greedy_accuracy_level2"]
    assert (run["before_greedy_accuracy_level1"], run["after_greedy_accuracy_level1"]) == (0.75, 1.0)
    assert run["after_sampled_accuracy"] is None
    summary = aggregate({("curriculum", 0): run}, ["curriculum"], [0])
    assert summary["arms"]["curriculum"]["change_greedy_accuracy_level1"]["mean"] == pytest.approx(0.25)
    report = markdown(summary, "python -m orchestration.study ...", ["abc"])
    assert "| `curriculum` | greedy level1 | 0.750 | 1.000 | +0.250 |" in report
    assert "| `curriculum` | greedy level2 | 0.250 | 0.250 | +0.000 |" in report
    assert "Code: commit abc" in report


def test_tiny_study_end_to_end_and_resumable(tiny_policy_dir, tiny_encoder_dir, tmp_path):
    from orchestration.study import main

    out = str(tmp_path / "study")
    tiny = [
        "--policy.name_or_path",
        tiny_policy_dir,
        "--rm.encoder",
        tiny_encoder_dir,
        "--sampling.max_new_tokens",
        "8",
        "--rm.max_length",
        "64",
        "--rm.train.epochs",
        "1",
        "--data.eval_size",
        "3",
        "--loop.max_steps",
        "2",
        "--loop.prompts_per_step",
        "2",
        "--loop.group_size",
        "4",
        "--rm.update_every",
        "1",
    ]
    argv = ["--arms", "verifier", "frozen_rm", "--seeds", "0", "1", "--output-dir", out, "--no-progress", *tiny]
    results = main(argv)
    assert sorted(os.listdir(os.path.join(out, "runs"))) == [
        "frozen_rm-seed0",
        "frozen_rm-seed1",
        "verifier-seed0",
        "verifier-seed1",
    ]
    # The base policy is evaluated once per seed: in the first arm run for it.
    initial = {
        name: any(
            "eval/initial_greedy_accuracy" in json.loads(line)
            for line in open(os.path.join(out, "runs", name, "metrics.jsonl"))
        )
        for name in os.listdir(os.path.join(out, "runs"))
    }
    assert initial == {
        "verifier-seed0": True,
        "verifier-seed1": True,
        "frozen_rm-seed0": False,
        "frozen_rm-seed1": False,
    }
    table = results["arms"]
    assert (
        table["verifier"]["after_greedy_accuracy"]["n"] == 2 and table["frozen_rm"]["before_greedy_accuracy"]["n"] == 2
    )
    # RM version 1 (trained after step 1) is the frozen RM: it scores step 2 (NaN when the tiny policy's
    # batch holds no right-and-wrong pair), and the frozen monitor shows the same figure.
    for seed in (0, 1):
        rows = [json.loads(line) for line in open(os.path.join(out, "runs", f"frozen_rm-seed{seed}", "metrics.jsonl"))]
        assert "rm/heldout_pairs" not in rows[0] and "rm_frozen/heldout_pairs" not in rows[0]
        assert rows[1]["rm/heldout_pairs"] == rows[1]["rm_frozen/heldout_pairs"]
        assert rows[1]["rm/heldout_auc"] == rows[1]["rm_frozen/heldout_auc"]  # None in JSON when NaN
    report = open(os.path.join(out, "report.md")).read()
    assert (
        "| `verifier` | 2 |" in report and "| `frozen_rm` | 2 |" in report and "python -m orchestration.study" in report
    )
    assert sorted(os.listdir(os.path.join(out, "plots"))) == ["arms.png", "forest.png"]
    kept = set(os.listdir(os.path.join(out, "runs", "verifier-seed0")))  # logs kept, models deleted
    assert {"metrics.jsonl", "outcomes.jsonl", "config.yaml", "log.txt", "study_run.json", "commits.txt"} <= kept
    from orchestration.study import code_commit

    assert results["commits"] == [code_commit()] and f"Code: commit {code_commit()}" in report
    assert "Paired differences against `verifier`" in report and "| `frozen_rm` | " in report
    assert not kept & {"checkpoints", "final"}
    # Re-running the command re-runs nothing (the metrics files are untouched) and rewrites the report.
    mtimes = {name: os.path.getmtime(os.path.join(out, "runs", name, "metrics.jsonl")) for name in initial}
    again = main(argv)
    assert again["arms"]["verifier"]["after_greedy_accuracy"] == table["verifier"]["after_greedy_accuracy"]
    assert all(os.path.getmtime(os.path.join(out, "runs", name, "metrics.jsonl")) == t for name, t in mtimes.items())
    # --parallel 4 runs the four at once, with the same initial evaluations and the same numbers.
    out4 = str(tmp_path / "study4")
    parallel = main([*argv[: argv.index("--output-dir")], "--output-dir", out4, "--parallel", "4", *tiny])
    for arm in table:  # every figure but the timings
        figures = [{k: v for k, v in t[arm].items() if "seconds" not in k} for t in (table, parallel["arms"])]
        assert figures[0] == figures[1], arm
    for name in initial:
        rows = [json.loads(line) for line in open(os.path.join(out, "runs", name, "metrics.jsonl"))]
        rows4 = [json.loads(line) for line in open(os.path.join(out4, "runs", name, "metrics.jsonl"))]
        for row, row4 in zip(rows, rows4, strict=True):
            differ = {k for k in row.keys() | row4.keys() if row.get(k) != row4.get(k)}
            assert {k for k in differ if not k.startswith("timing/") and "second" not in k} == set(), name


def test_code_commit_outside_a_checkout_comes_from_the_environment(tmp_path, monkeypatch):
    import orchestration.study as study

    monkeypatch.setattr(study, "REPO", str(tmp_path))
    monkeypatch.delenv(study.COMMIT_ENV, raising=False)
    assert study.code_commit() == "unknown"
    monkeypatch.setenv(study.COMMIT_ENV, "abc123")
    assert study.code_commit() == "abc123"


def test_configs_process_supervision_yaml_is_the_ps_arm():
    """configs/process_supervision.yaml repeats the `ps` arm's settings for a single run: keep the two in step."""
    from pathlib import Path

    from orchestration.config import load_config

    config = str(Path(__file__).resolve().parents[2] / "configs" / "process_supervision.yaml")
    assert load_config(config, []) == load_config(None, ARMS["ps"][1])


def _fake_multistep_run(path, responses_by_step: dict[int, list[tuple[str, bool]]], source="multistep"):
    """A finished run directory with just what the report reads: metrics, config, outcomes, study_run.json."""
    from orchestration.buffer import OutcomeBuffer, OutcomeRow

    os.makedirs(path)
    with open(os.path.join(path, "config.yaml"), "w") as f:
        f.write(f"data:\n  source: {source}\n")
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for step in responses_by_step:
            f.write(json.dumps({"step": step, "timing/step": 1.0}) + "\n")
    rows = [
        OutcomeRow(step, f"t{i}", f"g{step}", "p", response, float(ok), ok, "", "math")
        for step, responses in responses_by_step.items()
        for i, (response, ok) in enumerate(responses)
    ]
    OutcomeBuffer(os.path.join(path, "outcomes.jsonl")).append(rows)
    with open(os.path.join(path, "study_run.json"), "w") as f:
        json.dump({"commits": ["abc"]}, f)


def test_report_shows_the_training_samples_steps_of_multistep_runs(tmp_path):
    """Steps per completion and the repeated share, first vs last two steps, from the stored completions."""
    from orchestration.study_report import aggregate, markdown, summarize_run

    honest = ("6 + 6 = 12\n12 * 2 = 24\n\\boxed{24}", True)  # 3 steps, none repeated
    repeater = ("6 + 6 = 12\n6 + 6 = 12\n6+6 = 12\n12 * 2 = 25", False)  # 4 steps, 2 repeat an earlier one
    stopper = ("6 + 6 = 12", False)  # 1 step
    run = str(tmp_path / "ps-seed0")
    _fake_multistep_run(run, {1: [honest, repeater], 2: [honest], 3: [stopper], 4: [stopper, stopper]})
    summary = summarize_run(run)
    # First two steps: 3 completions, 3 + 4 + 3 = 10 steps, 2 repeated. Last two (3, 4): 3 one-step completions.
    assert summary["steps_first"]["steps_per_completion"] == pytest.approx(10 / 3)
    assert summary["steps_first"]["repeated_steps"] == pytest.approx(2 / 10)
    assert summary["steps_last"]["steps_per_completion"] == 1.0 and summary["steps_last"]["repeated_steps"] == 0.0
    other = str(tmp_path / "ps-seed1")
    _fake_multistep_run(other, {1: [honest], 2: [honest], 3: [honest], 4: [honest]})
    table = aggregate({("ps", 0): summary, ("ps", 1): summarize_run(other)}, ["ps"], [0, 1])
    assert table["arms"]["ps"]["steps_last_steps_per_completion"]["mean"] == pytest.approx((1.0 + 3.0) / 2)
    report = markdown(table, "python -m orchestration.study ...", ["abc"])
    assert "| arm | steps per completion, first | last | repeated steps, first | last |" in report
    # Runs on another task carry no step figures, and their report no such table.
    arithmetic = str(tmp_path / "verifier-seed0")
    _fake_multistep_run(arithmetic, {1: [honest]}, source="arithmetic")
    assert "steps_first" not in summarize_run(arithmetic)
    plain = markdown(aggregate({("verifier", 0): summarize_run(arithmetic)}, ["verifier"], [0]), "c", ["abc"])
    assert "steps per completion" not in plain


def test_redrawn_report_names_the_command_the_runs_ran(tmp_path):
    from orchestration.study_report import main

    out = tmp_path / "study"
    _fake_multistep_run(str(out / "runs" / "os-seed0"), {1: [("1 + 1 = 2\n\\boxed{2}", True)]})
    _fake_multistep_run(str(out / "runs" / "os-seed1"), {1: [("1 + 1 = 3", False)]})
    with open(out / "results.json", "w") as f:
        json.dump({"command": "python -m orchestration.study --arms os --parallel 2"}, f)
    main([str(out), "--arms", "os", "--seeds", "0", "1"])
    assert "Command: `python -m orchestration.study --arms os --parallel 2`" in (out / "report.md").read_text()


def test_report_on_gathered_runs_names_the_report_command_not_a_study(tmp_path):
    # Runs gathered from several studies into one directory have no study command; the report must not make one up.
    from orchestration.study_report import main

    out = tmp_path / "gathered dir"
    _fake_multistep_run(str(out / "runs" / "os-seed0"), {1: [("1 + 1 = 2\n\\boxed{2}", True)]})
    _fake_multistep_run(str(out / "runs" / "os-seed1"), {1: [("1 + 1 = 3", False)]})
    main([str(out), "--arms", "os", "--seeds", "0", "1"])
    expected = f"python -m orchestration.study_report '{out}' --arms os --seeds 0 1"
    assert f"Command: `{expected}`" in (out / "report.md").read_text()
    with open(out / "results.json") as f:
        assert json.load(f)["command"] == expected
    # Drawn again with other seeds, it names the command that drew it this time, not the first one.
    main([str(out), "--arms", "os", "--seeds", "0"])
    redrawn = f"python -m orchestration.study_report '{out}' --arms os --seeds 0"
    assert f"Command: `{redrawn}`" in (out / "report.md").read_text()


def test_scarce_label_arms_share_one_warm_start_and_differ_only_in_the_withheld_rows(
    tiny_policy_dir, tiny_encoder_dir, tmp_path
):
    import yaml

    from orchestration.buffer import OutcomeBuffer
    from orchestration.scarce_labels import withheld_gold
    from orchestration.study import main

    out = str(tmp_path / "study")
    tiny = [
        *("--policy.name_or_path", tiny_policy_dir, "--rm.encoder", tiny_encoder_dir),
        *("--sampling.max_new_tokens", "8", "--rm.max_length", "64", "--rm.train.epochs", "1"),
        *("--data.eval_size", "3", "--loop.max_steps", "2", "--loop.prompts_per_step", "4"),
        *("--loop.group_size", "2", "--rm.update_every", "1", "--loop.format_weight", "0"),
    ]
    arms = ["scarce_verifier", "scarce_frozen_rm", "scarce_rm", "scarce_oracle"]
    results = main(["--arms", *arms, "--seeds", "0", "1", "--output-dir", out, "--no-progress", *tiny])
    for seed in (0, 1):
        warm = os.path.join(out, "warm", f"scarce-seed{seed}")
        log = open(os.path.join(warm, "log.txt"), encoding="utf-8").read()
        assert log.count("$ ") == 1  # one bootstrap per seed, whichever arm came first
        sampled = OutcomeBuffer(os.path.join(warm, "outcomes.jsonl"))
        assert all(r.reference for r in sampled.read(range(len(sampled))))  # labelled prompts only
        streams = []
        for arm in arms:
            path = os.path.join(out, "runs", f"{arm}-seed{seed}")
            config = yaml.safe_load(open(os.path.join(path, "config.yaml"), encoding="utf-8"))
            assert config["rm"]["init_from"] == os.path.join(warm, "rm")
            buffer = OutcomeBuffer(os.path.join(path, "outcomes.jsonl"))
            rows = buffer.read(range(len(buffer)))
            streams.append([r.task_id for r in rows])
            # one prompt in four is a labelled draw: 2 steps x 4 prompts x 2 completions -> 4 labelled rows
            withheld = [r for r in rows if r.verifier == "none"]
            assert len(withheld) == (0 if arm == "scarce_oracle" else 12)
            assert all(withheld_gold(r.task_id) for r in withheld) and not any(r.reference for r in withheld)
            assert all(r.reward == r.outcome for r in rows if r.verifier == "math")
            metrics = [json.loads(line) for line in open(os.path.join(path, "metrics.jsonl"))]
            if arm == "scarce_verifier":
                assert all(r.reward == 0.0 for r in withheld)
            elif arm in ("scarce_rm", "scarce_frozen_rm"):
                assert all(r.reward == pytest.approx(r.rm_score) for r in withheld)
            # the frozen arm's RM is the warm start, never re-trained; the others keep training theirs
            assert any(m.get("rm/updated") for m in metrics) == (arm != "scarce_frozen_rm")
        assert all(stream == streams[0] for stream in streams)  # one prompt stream for every arm of a seed
    frozen = [os.path.join(out, "runs", f"scarce_frozen_rm-seed{s}", "outcomes.jsonl") for s in (0, 1)]
    assert {r.rm_version for f in frozen for r in OutcomeBuffer(f).read(range(len(OutcomeBuffer(f))))} == {0}
    table = results["arms"]
    assert table["scarce_verifier"]["withheld_first_reward"]["mean"] == 0.0
    assert table["scarce_oracle"]["withheld_first_accuracy"]["n"] == 0  # nothing withheld
    report = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert table["scarce_verifier"]["withheld_push_withheld_moved"] == 0  # no format term: nothing pays them
    assert table["scarce_oracle"]["withheld_push_withheld_groups"] == 0
    assert table["scarce_rm"]["withheld_push_withheld_groups"] == 12  # 2 seeds x 2 steps x 3 withheld prompts
    assert "Scarce labels: the training samples" in report and "| `scarce_rm` |" in report
    assert "withheld share of" in report


def test_the_rm_reward_curve_follows_what_rewards_each_arm():
    from orchestration.config import load_config
    from orchestration.dataclass_yaml import to_dict
    from orchestration.study import DEFAULTS
    from orchestration.study_report import _rm_reward_key

    for arm, (_, overrides) in ARMS.items():
        config = to_dict(load_config(None, [*DEFAULTS, *overrides]))  # what the run's config.yaml holds
        key = _rm_reward_key(config["loop"], config["data"])
        plan = load_config(None, [*DEFAULTS, *overrides]).plan
        assert (key is None) == (plan.rm is None), arm  # a curve exactly where an RM rewards the run
        if arm in ("scarce_rm", "scarce_frozen_rm"):
            assert key == "reward/unlabelled_mean"
        elif plan.rm is not None:
            assert key == ("reward/frozen_rm" if plan.rm == "frozen" else "reward/rm"), arm


def test_arms_read_their_warm_start_as_it_was_fitted():
    from orchestration.config import load_config
    from orchestration.study import DEFAULTS
    from orchestration.study_arms import ARM_WARM_START, WARM_STARTS

    assert set(ARM_WARM_START.values()) == set(WARM_STARTS)
    for arm, warm in ARM_WARM_START.items():
        run = load_config(None, [*DEFAULTS, *ARMS[arm][1]])
        fitted = load_config(None, [*DEFAULTS, *WARM_STARTS[warm][1]])
        assert (run.rm.reference, run.rm.hard_negatives, run.rm.encoder) == (
            fitted.rm.reference,
            fitted.rm.hard_negatives,
            fitted.rm.encoder,
        ), arm
        assert (run.data.levels, run.data.labelled_problems) == (fitted.data.levels, fitted.data.labelled_problems)


def test_long_horizon_pairs_cover_reference_and_hard_negatives():
    """#21 §2: frozen vs online from one warm start, reference-free and -aware, with and without hard negatives."""
    from orchestration.config import load_config
    from orchestration.study import DEFAULTS
    from orchestration.study_arms import ARM_WARM_START, CONTROLS

    corners = {}
    for online in ("rm_warm", "rm_warm_hn", "rm_aware", "rm_aware_no_hn"):
        frozen = CONTROLS[online]
        assert ARM_WARM_START[online] == ARM_WARM_START[frozen], online
        run, control = (load_config(None, [*DEFAULTS, *ARMS[arm][1]]) for arm in (online, frozen))
        assert (run.plan.rm, control.plan.rm) == ("live", "frozen"), online
        corners[run.rm.reference, run.rm.hard_negatives] = online
        assert (control.rm.reference, control.rm.hard_negatives) == (run.rm.reference, run.rm.hard_negatives)
    assert set(corners) == {(False, 0), (False, 1), (True, 0), (True, 1)}


def test_paid_figures_by_hand():
    from orchestration.study_stats import paid_figures

    accuracy = [0.5, 0.5, 0.25, 0.75, 0.5, 0.25]
    # No RM on the first step (a verifier warm-up): the ends are steps 2-3 and 5-6 of the five the RM paid for.
    reward = [None, 0.5, 0.5, 0.75, 0.75, 1.0]
    # Ranking pair-weighted: steps 2-3 (1.0 on 1 pair, 0.5 on 3) = 2.5 / 4; steps 5-6 (0 pairs, NaN on 2) = None.
    ranking = [(0.0, 9), (1.0, 1), (0.5, 3), (0.25, 4), (0.5, 0), (math.nan, 2)]
    figures = paid_figures(accuracy, reward, ranking, window=2)
    assert figures["first"] == {"verified": 0.375, "rm_reward": 0.5, "overestimate": 0.125, "rm_ranking": 0.625}
    assert figures["last"] == {"verified": 0.375, "rm_reward": 0.875, "overestimate": 0.5, "rm_ranking": None}
    # No RM at all: every step counts, the RM's figures are None.
    plain = paid_figures(accuracy, [None] * 6, window=2)
    assert plain["first"] == {"verified": 0.5, "rm_reward": None, "overestimate": None, "rm_ranking": None}
    assert plain["last"]["verified"] == 0.375
    # At most half the steps each end; one step is too few to compare ends.
    assert paid_figures(accuracy[:3], reward[:3], window=8)["first"]["rm_reward"] == 0.5
    assert paid_figures([0.5], [0.5]) == {}


def test_report_sets_what_the_rm_paid_beside_what_was_verified(tmp_path):
    from orchestration.study_report import markdown, summarize_run

    def fake_run(name, source, rows, data=""):
        path = tmp_path / name
        path.mkdir()
        (path / "config.yaml").write_text(f"loop:\n  reward_source: {source}\n{data}")
        lines = [json.dumps({"step": i + 1, **r}) + "\n" for i, r in enumerate(rows)]
        (path / "metrics.jsonl").write_text("".join(lines))
        return summarize_run(str(path))

    # The frozen RM pays more each step while the verified accuracy falls; step 1 it had not scored (no monitor).
    frozen = fake_run(
        "frozen_rm-seed0",
        "frozen_rm",
        [{"verifier/accuracy": 0.5, "reward/frozen_rm": 0.5}]
        + [
            {
                "verifier/accuracy": a,
                "reward/frozen_rm": r,
                "rm_frozen/heldout_ranking_accuracy": k,
                "rm_frozen/heldout_pairs": 3,
                "rm/heldout_ranking_accuracy": 0.0,  # a live RM's figures: not the RM that pays this run
                "rm/heldout_pairs": 3,
            }
            for a, r, k in [(0.5, 0.5, 1.0), (0.5, 0.6, 0.5), (0.25, 0.8, 0.5), (0.25, 0.9, 0.5)]
        ],
    )
    assert frozen["paid_first"] == pytest.approx(
        {"verified": 0.5, "rm_reward": 0.55, "overestimate": 0.05, "rm_ranking": 0.75}
    )
    assert frozen["paid_last"] == pytest.approx(
        {"verified": 0.25, "rm_reward": 0.85, "overestimate": 0.6, "rm_ranking": 0.5}
    )
    verifier = fake_run("verifier-seed0", "verifier", [{"verifier/accuracy": a} for a in (0.5, 0.5, 0.75, 0.75)])
    assert verifier["paid_last"] == {"verified": 0.75, "rm_reward": None, "overestimate": None, "rm_ranking": None}
    # Where only some rows have an answer, the verified accuracy is of those rows: no over-estimate is formed.
    rows = [{"verifier/accuracy": 0.5, "reward/rm": 0.9, "rm/heldout_pairs": 1}] * 2
    scarce = fake_run("rm-seed0", "rm", rows, data="data:\n  labelled_problems: 32\n")
    assert scarce["paid_first"] == {"verified": 0.5, "rm_reward": None, "overestimate": None, "rm_ranking": None}
    summary = aggregate({("frozen_rm", 0): frozen, ("verifier", 0): verifier}, ["verifier", "frozen_rm"], [0])
    report = markdown(summary, "c", ["abc"])
    assert "| `frozen_rm` | 0.500 | 0.250 | 0.550 | 0.850 | 0.050 | 0.600 | 0.750 | 0.500 |" in report
    assert "| `verifier` | 0.500 | 0.750 | — | — | — | — | — | — |" in report
    # A study no RM rewards has no such table.
    assert "RM over-estimate" not in markdown(aggregate({("verifier", 0): verifier}, ["verifier"], [0]), "c", ["abc"])


def test_each_online_arm_is_set_against_its_frozen_control_per_seed():
    from orchestration.study_report import default_pairs, markdown

    def run(after, overestimate):
        r = _run(0.5, after, [None, None, None])
        rm_reward = None if overestimate is None else after + overestimate
        r["paid_last"] = {"verified": after, "rm_reward": rm_reward, "overestimate": overestimate, "rm_ranking": 0.5}
        return r

    runs = {
        ("verifier", 0): run(0.8, None),
        ("frozen_rm_warm", 0): run(0.1, 0.7),
        ("rm_warm", 0): run(0.3, 0.1),
        ("frozen_rm_warm", 1): run(0.2, 0.6),
        ("rm_warm", 1): run(0.6, 0.0),
        ("rm_warm", 2): run(0.9, 0.0),  # its control did not run seed 2: not paired
    }
    arms = ["verifier", "frozen_rm_warm", "rm_warm"]
    assert default_pairs(arms) == [("rm_warm", "frozen_rm_warm")]
    assert default_pairs(["verifier", "rm_warm"]) == []  # a control outside the report is no pair
    (pair,) = aggregate(runs, arms, [0, 1, 2])["pairs"]
    assert pair["arm"] == "rm_warm" and pair["control"] == "frozen_rm_warm" and pair["seeds"] == [0, 1]
    # greedy: 0.3 - 0.1 = 0.2 and 0.6 - 0.2 = 0.4; over-estimate: 0.1 - 0.7 = -0.6 and 0.0 - 0.6 = -0.6
    assert pair["greedy_accuracy"]["mean"] == pytest.approx(0.3) and pair["greedy_accuracy"]["n"] == 2
    # t(0.975, 1) = 12.706205, sd of (0.2, 0.4) = 0.141421, / sqrt 2: half-width 1.270620; high clipped to 1
    assert pair["greedy_accuracy"]["low"] == pytest.approx(0.3 - 1.270620, abs=1e-6)
    assert pair["greedy_accuracy"]["high"] == 1.0
    assert pair["paid_last_overestimate"]["mean"] == pytest.approx(-0.6)
    assert pair["paid_last_rm_ranking"]["mean"] == pytest.approx(0.0)
    assert pair["withheld_last_accuracy"]["n"] == 0
    report = markdown(aggregate(runs, arms, [0, 1, 2]), "c", ["abc"])
    assert "| arm | control | seeds | greedy after | sampled after | training accuracy, last 8 |" in report
    assert "withheld accuracy" not in report  # no pair has the column
    assert "| `rm_warm` | `frozen_rm_warm` | 2 | +0.300 [-0.971, +1.000] |" in report
    # Named pairs replace the default; none leaves the table out.
    (named,) = aggregate(runs, arms, [0, 1], pairs=[("rm_warm", "verifier")])["pairs"]
    assert named["greedy_accuracy"]["mean"] == pytest.approx(0.3 - 0.8)  # seed 0 only: the verifier ran no other
    assert named["seeds"] == [0]
    assert "| arm | control |" not in markdown(aggregate(runs, arms, [0], pairs=[]), "c", [])


def test_a_pair_must_name_two_arms_of_the_report_with_the_same_data(tmp_path, capsys):
    from orchestration.study_report import check_pairs, main

    with pytest.raises(ValueError, match="pair rm_warm:frozen_rm: frozen_rm not among the report's arms"):
        check_pairs([("rm_warm", "frozen_rm")], ["rm_warm", "verifier"])
    with pytest.raises(ValueError, match="pair ps_rm:frozen_rm: the two arms sample different data"):
        check_pairs([("ps_rm", "frozen_rm")], ["ps_rm", "frozen_rm"])
    for bad, message in (("rm_warm", "--pairs takes ARM:CONTROL, got rm_warm"), ("rm_warm:rm", "rm not among")):
        with pytest.raises(SystemExit):
            main([str(tmp_path), "--arms", "rm_warm", "verifier", "--seeds", "0", "--pairs", bad])
        assert message in capsys.readouterr().err


def test_a_report_with_no_finished_run_says_so(tmp_path, capsys):
    from orchestration.study_report import main

    with pytest.raises(SystemExit, match="no finished run of arms rm_warm verifier with seeds 0 1 under .*runs"):
        main([str(tmp_path), "--arms", "rm_warm", "verifier", "--seeds", "0", "1"])
    assert not (tmp_path / "report.md").exists()


def test_a_study_whose_every_run_failed_names_the_failures_not_a_traceback(tmp_path, monkeypatch, capsys):
    from orchestration import study

    failed = [{"arm": "verifier", "seed": s, "returncode": 1, "seconds": 0.0} for s in (0, 1)]
    monkeypatch.setattr(study, "run_study", lambda *args, **kwargs: failed)
    with pytest.raises(SystemExit, match="some runs failed"):
        study.main(["--arms", "verifier", "--seeds", "0", "1", "--output-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert "study report: no finished run of arms verifier" in err
    assert "report.md" not in out  # none was written: the study does not point at one
