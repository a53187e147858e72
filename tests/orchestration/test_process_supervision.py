"""loop.supervision=process on the tiny models: step labels -> per-token advantages -> the same update."""

import pytest
import torch

from orchestration.buffer import OutcomeBuffer
from orchestration.config import load_config
from orchestration.dataclass_yaml import ConfigError
from orchestration.metrics import read_metrics
from orchestration.online import OnlineTrainer
from policy.update import GRPOUpdater
from verifiers.steps import StepOutcome

K = 4


def spy_updates(monkeypatch):
    seen = []
    step = GRPOUpdater.step
    monkeypatch.setattr(GRPOUpdater, "step", lambda self, rollouts, advantages: (
        seen.append((rollouts, advantages.clone())), step(self, rollouts, advantages))[1])
    return seen


def test_process_supervision_run_on_multistep_problems(tiny_run_args, tmp_path, monkeypatch):
    seen = spy_updates(monkeypatch)
    cfg = load_config(None, tiny_run_args(**{
        "data.source": "multistep", "data.levels": [2], "loop.supervision": "process",
        "loop.reward_source": "verifier", "loop.max_steps": 2}))
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
        return [[StepOutcome(0, len(text), "true" if i % 2 else "false", 1, "")] if text else []
                for i, text in enumerate(rollouts.texts)]

    monkeypatch.setattr(OnlineTrainer, "_check_steps", one_step_each)
    cfg = load_config(None, tiny_run_args(**{
        "data.source": "multistep", "loop.supervision": "process", "loop.reward_source": "verifier",
        "loop.initial_eval": False}))
    OnlineTrainer(cfg, str(tmp_path)).train_step()
    (rollouts, advantages), = seen
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
            assert (advantages[i, last + 1:] == 0).all()
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("overrides, message", [
    (["--loop.supervision", "process"], "needs algorithm=grpo and reward_source=verifier"),
    (["--loop.supervision", "process", "--loop.reward_source", "verifier", "--loop.drop_uniform_groups", "true"],
     "use it with supervision=outcome"),
])
def test_process_supervision_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
