"""loop.supervision=process on the tiny models: step labels -> per-token advantages -> the same update."""

import pytest
import torch

import verifiers.steps as steps_module
from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.dataclass_yaml import ConfigError
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from orchestration.online_rm import OnlineRM
from orchestration.step_batch import RMScores
from policy.grpo import process_advantages
from policy.update import GRPOUpdater
from reward_model import ScalarRewardModel
from reward_model.step_model import StepRewardModel
from verifiers.steps import Step, StepOutcome

K = 4


def spy_updates(monkeypatch):
    seen = []
    step = GRPOUpdater.step
    monkeypatch.setattr(
        GRPOUpdater,
        "step",
        lambda self, rollouts, advantages: (
            seen.append((rollouts, advantages.clone())),
            step(self, rollouts, advantages),
        )[1],
    )
    return seen


def test_process_supervision_run_on_multistep_problems(tiny_run_args, tmp_path, monkeypatch):
    seen = spy_updates(monkeypatch)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "data.levels": [2],
                "loop.supervision": "process",
                "loop.reward_source": "verifier",
                "loop.max_steps": 2,
            }
        ),
    )
    OnlineTrainer(cfg, str(tmp_path)).run()
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert all("process/steps_per_completion" in m and "process/labelled_fraction" in m for m in rows)
    buffer = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    for row in buffer.read(range(len(buffer))):  # the buffer keeps every completion's step spans and labels
        assert isinstance(row.steps, list)
        for start, end, label in row.steps:
            assert 0 <= start < end <= len(row.response) and label in (None, 0.0, 1.0)
        if row.steps and not row.correct:  # the last step carries the verified outcome: a wrong answer spoils it
            assert row.steps[-1][2] == 0.0
    for rollouts, advantages in seen:
        assert advantages.shape == rollouts.completion_ids.shape  # one advantage per completion token


def test_step_labels_become_token_advantages(tiny_run_args, tmp_path, monkeypatch):
    """Each completion is one step labelled by its position in the group (0, 1, 0, 1): the group's step rewards
    {0, 1, 0, 1} normalise to -+0.866 (mean 0.5, unbiased std 0.577), credited to every token of the step."""
    seen = spy_updates(monkeypatch)

    def one_step_each(self, items, rollouts, outcomes):
        return [
            [StepOutcome(0, len(text), "true" if i % 2 else "false", 1, "")] if text else []
            for i, text in enumerate(rollouts.texts)
        ]

    monkeypatch.setattr(OnlineTrainer, "_check_steps", one_step_each)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "loop.supervision": "process",
                "loop.reward_source": "verifier",
                "loop.initial_eval": False,
            }
        ),
    )
    OnlineTrainer(cfg, str(tmp_path)).train_step()
    ((rollouts, advantages),) = seen
    lengths, checked = rollouts.completion_mask.sum(dim=1), 0
    for g in range(len(rollouts) // K):
        rows = range(g * K, (g + 1) * K)
        labels = torch.tensor([float(i % 2) for i in rows if rollouts.texts[i]])
        if len(labels) < 2 or labels.min() == labels.max():
            continue
        normalised = (labels - labels.mean()) / (labels.std() + 1e-4)
        for r, i in zip(normalised.tolist(), [i for i in rows if rollouts.texts[i]]):
            last = int(lengths[i]) - 1  # the step ends on the completion's last text token or before it
            assert advantages[i, 0].item() == pytest.approx(r, abs=1e-5)
            assert (advantages[i, last + 1 :] == 0).all()
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["--loop.supervision", "process", "--loop.reward_source", "mix"],
            "it needs algorithm=grpo, one of those sources",
        ),
        (
            ["--loop.supervision", "process", "--loop.reward_source", "rm", "--rm.train.loss", "mse"],
            "trains a step-level RM with rm.train.loss=bce",
        ),
        (
            ["--loop.supervision", "process", "--loop.reward_source", "verifier", "--loop.drop_uniform_groups", "true"],
            "use it with supervision=outcome",
        ),
    ],
)
def test_process_supervision_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def alternating_verdicts(self, items, rollouts, outcomes):
    """Each non-blank line a step, judged true and false in turn (the tiny random policy makes no checkable claim)."""
    from verifiers.steps import segment

    return [
        [StepOutcome(s.start, s.end, ("false", "true")[(i + j) % 2], 1, "") for j, s in enumerate(segment(t))]
        for i, t in enumerate(rollouts.texts)
    ]


def test_step_rm_trains_online_scores_steps_and_resumes(tiny_run_args, tmp_path, monkeypatch):
    """reward_source=rm: rule labels until the step RM's first version (after step 1), its step scores after;
    prm/heldout_* from step 2 on; the checkpoint holds a step-level RM and a resumed run continues from it."""
    monkeypatch.setattr(OnlineTrainer, "_check_steps", alternating_verdicts)
    args = tiny_run_args(
        **{
            "data.source": "multistep",
            "data.levels": [1],
            "loop.supervision": "process",
            "loop.reward_source": "rm",
            "rm.update_every": 1,
            "loop.max_steps": 2,
            "loop.checkpoint_every": 1,
            "loop.initial_eval": False,
        }
    )
    OnlineTrainer(load_config(None, args), str(tmp_path)).run()
    rows = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert "prm/heldout_ranking_accuracy" not in rows[0] and rows[0]["rm/updated"] == 1.0
    assert rows[1]["prm/heldout_steps"] > 0 and 0.0 <= rows[1]["prm/heldout_auc"] <= 1.0
    assert "prm_frozen/heldout_steps" in rows[1] and rows[1]["rm/update/n_examples"] > 0
    saved = ScalarRewardModel.from_pretrained(str(tmp_path / "checkpoints" / "step-000002" / "rm"))
    assert isinstance(saved, StepRewardModel)
    resumed = OnlineTrainer(load_config(None, [*args, "--loop.max_steps", "3"]), str(tmp_path))
    assert resumed.step == 2 and isinstance(resumed.rm.model, StepRewardModel)
    resumed.run()
    assert len(read_metrics(str(tmp_path / "metrics.jsonl"))) == 3


def test_step_rm_scores_become_token_advantages(tiny_run_args, tmp_path, monkeypatch):
    """With reward_source=rm the step rewards are the step RM's scores (NaN = a step cut away: no reward), and
    the advantages are exactly process_advantages of them."""
    seen = spy_updates(monkeypatch)
    calls = []

    def fake_step_scores(self, prompts, responses, spans):
        calls.append(spans)
        steps = [
            torch.tensor([0.1 * (i % 5) + 0.05 * j if j else float("nan") for j in range(len(s))])
            for i, s in enumerate(spans)
        ]
        outcome = torch.tensor([0.5] * len(spans))
        return RMScores(steps, steps), RMScores(outcome, outcome)

    monkeypatch.setattr(OnlineRM, "step_scores", fake_step_scores)
    one_step_per_char = lambda self, items, rollouts, outcomes: [  # noqa: E731
        [StepOutcome(j, j + 1, "unverifiable", 0, "") for j in range(min(len(t), 3)) if not t[j].isspace()]
        for t in rollouts.texts
    ]
    monkeypatch.setattr(OnlineTrainer, "_check_steps", one_step_per_char)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "loop.supervision": "process",
                "loop.reward_source": "rm",
                "loop.initial_eval": False,
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    trainer.train_step()
    ((rollouts, advantages),) = seen
    from policy.steps import step_tensors

    spans = calls[0]
    steps = [[StepOutcome(a, b, "unverifiable", 0, "") for a, b in s] for s in spans]
    rewards = [[None if j == 0 else 0.1 * (i % 5) + 0.05 * j for j in range(len(s))] for i, s in enumerate(spans)]
    expected = process_advantages(
        *step_tensors(trainer.tokenizer, rollouts.completion_ids, rollouts.completion_mask, steps, rewards), K
    )
    torch.testing.assert_close(advantages, expected)
    assert advantages.abs().sum() > 0


def test_process_run_refuses_an_outcome_rm(tiny_run_args, tiny_encoder_dir, tmp_path):
    ScalarRewardModel.from_encoder(tiny_encoder_dir, max_length=64).save_pretrained(str(tmp_path / "outcome_rm"))
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "loop.supervision": "process",
                "loop.reward_source": "rm",
                "rm.init_from": str(tmp_path / "outcome_rm"),
            }
        ),
    )
    with pytest.raises(
        ValueError, match="holds a reward model of level .outcome.; loop.supervision=process needs a step"
    ):
        OnlineTrainer(cfg, str(tmp_path / "run"))


@pytest.mark.parametrize("kind", ["mc_hard", "mc_soft"])
def test_monte_carlo_step_labels_in_the_loop(kind, tiny_run_args, tmp_path, monkeypatch):
    """step_labels=mc_*: half the completions with steps get m=2 continuations per non-last step, judged by a
    stand-in verifier that passes one of each two: hard label 1, soft 0.5; the rest only their outcome label."""
    import orchestration.mc_labels as mc

    calls = []

    def half_right(timeout):
        def verify_fn(items, texts):
            calls.append(len(texts))
            return [i % 2 == 0 for i in range(len(texts))]

        return verify_fn

    def three_steps(text, mode="lines"):  # the tiny random policy writes no lines to speak of
        return [Step(0, 1, text[:1]), Step(1, 2, text[1:2]), Step(2, len(text), text[2:])] if len(text) >= 3 else []

    monkeypatch.setattr(mc, "rule_verify_fn", half_right)
    monkeypatch.setattr(steps_module, "segment", three_steps)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "loop.supervision": "process",
                "loop.reward_source": "verifier",
                "loop.step_labels": kind,
                "loop.mc_rollouts": 2,
                "loop.mc_share": 0.5,
                "loop.initial_eval": False,
                "sampling.max_new_tokens": 24,
            }
        ),
    )
    OnlineTrainer(cfg, str(tmp_path)).train_step()
    buffer = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    with_steps = [r for r in rows if r.steps]
    labelled = [r for r in with_steps if any(label is not None for _, _, label in r.steps[:-1])]
    expected = 1.0 if kind == "mc_hard" else 0.5
    assert with_steps and len(labelled) == -(-len(with_steps) // 2)  # ceil(share * completions with steps)
    for r in labelled:
        assert [label for _, _, label in r.steps[:-1]] == [expected, expected]
    for r in with_steps:  # the last step: the completion's verified outcome; unchosen ones nothing else
        assert r.steps[-1][2] == float(r.correct)
        assert r in labelled or [label for _, _, label in r.steps[:-1]] == [None, None]
    assert calls == [2 * 2 * len(labelled)]  # one batched call: m=2 continuations of 2 non-last steps each


def test_mc_step_labels_need_process_supervision():
    with pytest.raises(ConfigError, match="step_labels=mc_hard labels steps for supervision=process"):
        load_config(None, ["--loop.step_labels", "mc_hard"])


def test_process_supervision_with_the_step_rm_on_two_processes(tiny_run_args, tmp_path):
    """`torchrun --nproc_per_node 2`: both processes' completions keep their step labels in the buffer, the step
    RM trains data-parallel, and its held-out monitor and step rewards run on every process (step 2 is rewarded
    by the step RM's first version)."""
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = str(tmp_path / "dp")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    args = tiny_run_args(
        **{
            "data.source": "multistep",
            "loop.supervision": "process",
            "loop.reward_source": "rm",
            "rm.update_every": 1,
            "loop.max_steps": 2,
            "loop.initial_eval": False,
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29541",
        os.path.join(repo, "orchestration", "train_loop.py"),
        "--output-dir",
        out,
        *args,
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    buffer = OutcomeBuffer(os.path.join(out, "outcomes.jsonl"))
    rows = buffer.read(range(len(buffer)))
    assert len(rows) == 2 * 2 * K * 2 and all(isinstance(r.steps, list) for r in rows)
    assert {r.group.split(":")[1] for r in rows} == {"0", "1"}
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2] and metrics[1]["rm/version"] == 1
    assert "prm/heldout_steps" in metrics[1] and metrics[1]["policy/skipped"] == 0.0
    saved = ScalarRewardModel.from_pretrained(os.path.join(out, "final", "rm"))
    assert isinstance(saved, StepRewardModel)


# ----------------------------------------------------------------------------- progress, credit modes, outcome share


def scripted_completions(item):
    """A group of four for a level-1 item (a + b) * c: the honest solution, a repeater (the first step six times,
    then a wrong answer, as the gamed runs wrote), a doubling chain of new true claims with a wrong answer, and a
    slip. Labels by the rule, repeats and the bound (2 operations + 1 = 3 rewarded steps) applied:
        honest     [1, 1, 1]
        repeater   [1, 0, 0, 0, 0, 0, 0]           repeats earn 0
        doubling   [1, 1, None, None, 0]           true and new, but past the bound: no reward
        slip       [1, 0, 0]"""
    a, b, c = (int(x) for x in item.id.split(":")[1].replace("(", "").replace(")", "").replace("+", "*").split("*"))
    s, gold = a + b, (a + b) * c
    return [
        f"{a} + {b} = {s}\n{s} * {c} = {gold}\n\\boxed{{{gold}}}",
        f"{a} + {b} = {s}\n" * 6 + "\\boxed{0}",
        f"{a} + {b} = {s}\n{s} + {s} = {2 * s}\n{2 * s} + {2 * s} = {4 * s}\n{4 * s} + {4 * s} = {8 * s}\n"
        f"\\boxed{{{8 * s + 1}}}",
        f"{a} + {b} = {s}\n{s} * {c} = {gold + 1}\n\\boxed{{{gold + 1}}}",
    ]


EXPECTED_PAID = [[1.0, 1.0, 1.0], [1.0] + [0.0] * 6, [1.0, 1.0, None, None, 0.0], [1.0, 0.0, 0.0]]


def script_sampling(monkeypatch, tokenizer):
    """The loop samples as usual (prompt ids, seeds), then its completions are replaced by scripted ones."""
    from dataclasses import replace

    original = OnlineTrainer._sample

    def scripted(self, items, group_size, sampling, seed, model=None, progress=None):
        rollouts = original(self, items, group_size, sampling, seed, model=model, progress=progress)
        texts = [text for item in items for text in scripted_completions(item)]
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
        length = max(map(len, ids))
        completion_ids = torch.tensor([row + [tokenizer.pad_token_id] * (length - len(row)) for row in ids])
        mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in ids])
        return replace(
            rollouts,
            completion_ids=completion_ids,
            completion_mask=mask,
            texts=texts,
            truncated=torch.zeros(len(texts), dtype=torch.bool),
        )

    monkeypatch.setattr(OnlineTrainer, "_sample", scripted)


@pytest.mark.parametrize("credit, share", [("sum", 0.0), ("min", 0.0), ("delta", 0.0), ("sum", 0.1)])
def test_the_loop_pays_progress_by_credit_mode_and_outcome_share(
    credit, share, tiny_run_args, tmp_path, monkeypatch, tokenizer
):
    """End to end on scripted completions: the rule's labels with repeats marked go to the buffer, the bound
    withholds the doubling chain's extra steps, and the advantages are exactly process_advantages(credit) of
    those rewards mixed with the verified outcome's group advantage. Under every mode the honest solution's
    first token is worth more than the repeater's."""
    from policy.grpo import group_advantages, mix_advantages
    from policy.steps import step_tensors
    from verifiers.steps import segment

    seen = spy_updates(monkeypatch)
    script_sampling(monkeypatch, tokenizer)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "data.levels": [1],
                "loop.supervision": "process",
                "loop.reward_source": "verifier",
                "grpo.process_credit": credit,
                "loop.outcome_share": share,
                "loop.initial_eval": False,
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    metrics = trainer.train_step()
    ((rollouts, advantages),) = seen
    buffer = OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))
    labels = [[label for _, _, label in row.steps] for row in buffer.read(range(len(buffer)))]
    assert labels == [[1.0, 1.0, 1.0], [1.0] + [0.0] * 6, [1.0, 1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0]] * 2
    steps = [segment(text) for text in rollouts.texts]
    process = process_advantages(
        *step_tensors(trainer.tokenizer, rollouts.completion_ids, rollouts.completion_mask, steps, EXPECTED_PAID * 2),
        K,
        credit=credit,
    )
    verified = group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0] * 2), K)
    torch.testing.assert_close(advantages, mix_advantages(process, verified, share))
    assert torch.all(advantages[0::K, 0] > advantages[1::K, 0])  # honest beats the repeater in both groups
    assert metrics["process/rewarded_steps_per_completion"] == pytest.approx((3 + 1 + 2 + 1) / 4)
    assert metrics["process/repeated_steps"] == pytest.approx(5 / (3 + 7 + 5 + 3))
    assert metrics["process/withheld_steps"] == pytest.approx(2 / (3 + 7 + 5 + 3))


def test_loop_max_rewarded_steps_overrides_the_tasks_bound(tiny_run_args, tmp_path, monkeypatch, tokenizer):
    """loop.max_rewarded_steps 2 in place of level 1's 3: one positive step before the answer. Kept positive:
    honest 2 (its first step and its right answer; its second true step is withheld), repeater 1, doubling 1 (its
    next three true steps withheld), slip 1: 5 / 4 per completion, 4 withheld of 18 steps."""
    seen = spy_updates(monkeypatch)
    script_sampling(monkeypatch, tokenizer)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "data.levels": [1],
                "loop.supervision": "process",
                "loop.reward_source": "verifier",
                "loop.max_rewarded_steps": 2,
                "loop.initial_eval": False,
            }
        ),
    )
    metrics = OnlineTrainer(cfg, str(tmp_path)).train_step()
    assert metrics["process/rewarded_steps_per_completion"] == pytest.approx(5 / 4)
    assert metrics["process/withheld_steps"] == pytest.approx(4 / 18)
    assert len(seen) == 1


def test_the_step_rm_gets_the_same_protections(tiny_run_args, tmp_path, monkeypatch, tokenizer):
    """reward_source=rm: a step RM that scores every step 0.9 would pay the repeater for each line. Its repeats get
    0 and past the bound no reward, exactly as the rule's labels, before the advantages are taken."""
    from policy.steps import step_tensors
    from verifiers.steps import segment

    seen = spy_updates(monkeypatch)
    script_sampling(monkeypatch, tokenizer)

    def flat_scores(self, prompts, responses, spans):
        steps = [torch.full((len(s),), 0.9) for s in spans]
        return RMScores(steps, steps), RMScores(torch.full((len(spans),), 0.9), torch.full((len(spans),), 0.9))

    monkeypatch.setattr(OnlineRM, "step_scores", flat_scores)
    cfg = load_config(
        None,
        tiny_run_args(
            **{
                "data.source": "multistep",
                "data.levels": [1],
                "loop.supervision": "process",
                "loop.reward_source": "rm",
                "loop.initial_eval": False,
            }
        ),
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    metrics = trainer.train_step()
    ((rollouts, advantages),) = seen
    paid = [[0.9, 0.9, 0.9], [0.9] + [0.0] * 5 + [0.9], [0.9, 0.9, None, None, 0.9], [0.9, 0.9, 0.9]]
    steps = [segment(text) for text in rollouts.texts]
    expected = process_advantages(
        *step_tensors(trainer.tokenizer, rollouts.completion_ids, rollouts.completion_mask, steps, paid * 2), K
    )
    torch.testing.assert_close(advantages, expected)
    assert torch.all(advantages[1::K, 0] < 0)  # the repeater's lines now cost it
    # The held-out monitor by step position: every score is 0.9; labels are 1 at step 1 everywhere, so the
    # RM agrees there; at steps 5plus only the repeater's repeats (label 0) and its answer (0) remain: 0 agree.
    assert metrics["prm/heldout_accuracy_step1"] == 1.0 and metrics["prm/heldout_accuracy_step5plus"] == 0.0
    assert metrics["prm/heldout_score_step3"] == pytest.approx(0.9)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--grpo.process_credit", "min"], "grpo.process_credit=min assigns step rewards to tokens under"),
        (["--grpo.process_credit", "mean"], "process_credit must be one of"),
        (["--loop.outcome_share", "0.1"], "outcome_share=0.1 mixes the outcome advantage into process"),
        (
            ["--loop.supervision", "process", "--loop.reward_source", "verifier", "--loop.outcome_share", "1.5"],
            "outcome_share must be in \\[0, 1\\]",
        ),
        (
            ["--loop.supervision", "process", "--loop.reward_source", "verifier", "--loop.max_rewarded_steps", "0"],
            "max_rewarded_steps=0 bounds the rewarded steps",
        ),
        (["--loop.max_rewarded_steps", "3"], "it needs loop.supervision=process"),
    ],
)
def test_credit_and_share_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_step_monitor_by_step_position():
    """Two completions of one group. Position 1: scores 0.8 (label 1, agrees) and 0.3 (label 1, disagrees) ->
    accuracy 0.5, mean score 0.55. Position 2: 0.9 with label 0 (disagrees) and NaN (cut away: left out) -> 0.0,
    0.9. Position 3: 0.6 without a label -> no accuracy (NaN), mean score 0.6. Positions 6 and 7 (5plus): 0.7 / 0
    (disagrees) and 0.2 / 0 (agrees) -> 0.5, 0.45. Position 4 and 5 hold nothing: NaN."""
    from orchestration.rewards import step_monitor

    nan = float("nan")
    scores = [[0.8, 0.9, 0.6, nan, nan, 0.7, 0.2], [0.3, nan]]
    labels = [[1.0, 0.0, None, 1.0, None, 0.0, 0.0], [1.0, 1.0]]
    metrics = step_monitor(scores, labels, ["g", "g"])
    expected = {
        "accuracy_step1": 0.5,
        "score_step1": 0.55,
        "accuracy_step2": 0.0,
        "score_step2": 0.9,
        "score_step3": 0.6,
        "accuracy_step5plus": 0.5,
        "score_step5plus": 0.45,
    }
    for key, value in expected.items():
        assert metrics[f"prm/heldout_{key}"] == pytest.approx(value), key
    for key in ("accuracy_step3", "accuracy_step4", "score_step4"):
        assert metrics[f"prm/heldout_{key}"] != metrics[f"prm/heldout_{key}"]  # NaN: nothing to measure there
    assert metrics["prm/heldout_steps"] == 5  # labelled and scored: 0.8, 0.9, 0.7, 0.2 and 0.3


def test_path_labels_reach_the_rule_labeller_and_the_metrics(tiny_run_args, tmp_path, monkeypatch):
    """loop.path_labels: the loop asks the rule labeller to mark off-path steps (what it marks is tested in
    tests/verifiers/test_math_steps.py and tests/orchestration/test_multistep.py), and logs the share it marked."""
    import orchestration.online as online

    asked, real = [], online.rule_step_labels

    def labeller(*args, **kwargs):
        asked.append(kwargs.get("path"))
        judged = real(*args, **kwargs)
        marked.extend(s.off_path for row in judged for s in row)
        return judged

    marked = []
    monkeypatch.setattr(online, "rule_step_labels", labeller)
    overrides = {
        "data.source": "multistep",
        "data.levels": [1],
        "loop.supervision": "process",
        "loop.reward_source": "verifier",
        "loop.path_labels": True,
        "loop.max_steps": 1,
    }
    OnlineTrainer(load_config(None, tiny_run_args(**overrides)), str(tmp_path)).run()
    (row,) = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert asked == [True]
    assert marked and row["process/off_path_steps"] == pytest.approx(sum(marked) / len(marked))
