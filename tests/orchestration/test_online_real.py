"""One short run of the online loop on the real embedded models (SmolLM2-135M-Instruct + MiniLM)."""

import os

import pytest

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer


@pytest.mark.integration
def test_one_step_on_the_embedded_models(tmp_path):
    cfg = load_config(None, ["--sampling.max_new_tokens", "24", "--rm.update_every", "1", "--rm.train.epochs", "1",
                             "--rm.train.progress_bar", "false", "--data.eval_size", "2", "--data.eval_samples", "1",
                             "--loop.max_steps", "1", "--loop.prompts_per_step", "2", "--loop.group_size", "4",
                             "--logging.progress_bar", "false"])
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
