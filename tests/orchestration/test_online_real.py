"""One short run of the online loop on the real embedded models (SmolLM2-135M-Instruct + MiniLM)."""

import os

import pytest

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer


@pytest.mark.integration
def test_one_step_on_the_embedded_models(tmp_path):
    cfg = load_config(
        None,
        [
            "--sampling.max_new_tokens",
            "24",
            "--rm.update_every",
            "1",
            "--rm.train.epochs",
            "1",
            "--data.eval_size",
            "2",
            "--data.eval_samples",
            "1",
            "--loop.max_steps",
            "1",
            "--loop.prompts_per_step",
            "2",
            "--loop.group_size",
            "4",
            "--logging.progress_bar",
            "false",
        ],
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    metrics = trainer.run()
    assert len(OutcomeBuffer(str(tmp_path / "outcomes.jsonl"))) == 8
    # Step 1 is scored by no RM (version 0); the RM's first update follows it.
    assert metrics["rm/version"] == 0 and metrics["rm/updated"] == 1.0 and trainer.state.rm_version == 1
    assert metrics["policy/skipped"] == 0.0
    assert 0.0 <= metrics["verifier/accuracy"] <= 1.0 and metrics["policy/tokens"] > 0
    logged = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert [m["step"] for m in logged] == [1]
    assert {"eval/initial_greedy_accuracy", "eval/greedy_accuracy", "reward/mean", "rm/version"} <= set(logged[0])
    assert os.path.isfile(tmp_path / "final" / "policy" / "model.safetensors")
    assert os.path.isfile(tmp_path / "final" / "rm" / "reward_model.json")


def short_run(tmp_path, *extra: str) -> tuple[OnlineTrainer, list[dict]]:
    cfg = load_config(
        None,
        [
            "--sampling.max_new_tokens",
            "24",
            "--rm.update_every",
            "1",
            "--rm.train.epochs",
            "1",
            "--data.eval_size",
            "2",
            "--data.eval_samples",
            "1",
            "--loop.prompts_per_step",
            "2",
            "--loop.group_size",
            "4",
            "--loop.initial_eval",
            "false",
            "--logging.progress_bar",
            "false",
            *extra,
        ],
    )
    trainer = OnlineTrainer(cfg, str(tmp_path))
    trainer.run()
    return trainer, read_metrics(str(tmp_path / "metrics.jsonl"))


@pytest.mark.integration
def test_process_supervision_with_the_step_rm_on_the_embedded_models(tmp_path):
    """Two steps of GRPO+PS rewarded by the MiniLM step RM: rule labels at step 1 (no RM yet), the step RM's
    scores at step 2, held out against the rule labels first."""
    from reward_model.step_model import StepRewardModel

    trainer, logged = short_run(
        tmp_path,
        "--loop.max_steps",
        "2",
        "--data.source",
        "multistep",
        "--data.levels",
        "[1]",
        "--loop.supervision",
        "process",
        "--loop.reward_source",
        "rm",
    )
    assert isinstance(trainer.rm.model, StepRewardModel) and trainer.state.rm_version == 2
    assert logged[1]["prm/heldout_steps"] > 0 and logged[1]["policy/tokens"] > 0
    assert os.path.isfile(tmp_path / "final" / "rm" / "reward_model.json")


@pytest.mark.integration
def test_the_policy_as_the_rm_backbone_on_the_embedded_models(tmp_path):
    """rm.encoder: policy builds the RM on SmolLM2-135M itself (top 2 of its 30 layers trained)."""
    trainer, logged = short_run(
        tmp_path, "--loop.max_steps", "1", "--rm.encoder", "policy", "--rm.train.trainable_layers", "2"
    )
    assert trainer.rm.model.causal and trainer.rm.model.encoder_name.startswith("policy:")
    trainable = {
        n.split(".")[1]
        for n, p in trainer.rm.model.encoder.named_parameters()
        if p.requires_grad and n.startswith("layers.")
    }
    assert trainable == {"28", "29"} and logged[0]["rm/updated"] == 1.0
