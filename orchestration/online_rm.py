"""The reward model's life in the online loop: loaded or created, scored on the verifier's [0, 1] scale,
re-trained every N steps, and its first version kept frozen beside it.

    live    `OnlineRM.model`: rewards `rm` and `mix` runs; re-trained every `rm.update_every` steps on the new
            outcomes plus replayed history (its optimizer state persists across updates: `OnlineRM.trainer`)
    frozen  `OnlineRM.frozen`: the first version (`rm.init_from`, else the loop's first update), never trained
            again. It rewards `frozen_rm` runs (there it is the live model itself, which then never updates),
            and in every run it scores the same fresh batches as the live one (`rm_frozen/*`), which makes
            distribution shift visible: a frozen RM judging a policy that has moved on.

With process supervision both are step-level (`StepRewardModel`, trained by `StepRMTrainer` on the buffer's
step labels); `step_scores` gives each step's score and the outcome-level aggregate the outcome monitors use.
"""

from __future__ import annotations

import copy
import dataclasses
import os

import torch

from reward_model import ScalarRewardModel
from reward_model.data import OutcomeRecord, StepRecord
from reward_model.losses import to_unit_scale
from reward_model.step_model import StepRewardModel, aggregate_steps
from reward_model.train import RMTrainer, StepRMTrainer

StepScores = tuple[list[torch.Tensor], torch.Tensor]  # (each response's step scores, (N,) outcome-level scores)


class OnlineRM:
    def __init__(self, cfg, reward_source: str, seed: int, accelerator, level: str = "outcome",
                 policy: str | None = None):
        """`cfg`: the run's `RewardModelConfig`; `level`: "outcome" (`ScalarRewardModel`) or "step"
        (`StepRewardModel`, process supervision); `policy`: the policy's starting checkpoint (`rm.encoder:
        policy` builds the RM on it)."""
        self.cfg, self.reward_source, self.seed, self.accelerator = cfg, reward_source, seed, accelerator
        self.level, self.policy = level, policy
        self.model: ScalarRewardModel | None = None
        self.trainer: RMTrainer | None = None
        self.frozen: ScalarRewardModel | None = None

    def load(self, checkpoint: str | None) -> None:
        """The checkpoint's RMs (`rm/`, `rm_frozen/`), else `rm.init_from`, else none until the first update."""
        saved = checkpoint and os.path.join(checkpoint, "rm")
        path = saved if saved and os.path.isdir(saved) else self.cfg.init_from
        self.model = self._from_pretrained(path) if path else None
        self.trainer = self._trainer(self.model) if self.model else None
        saved_frozen = checkpoint and os.path.join(checkpoint, "rm_frozen")
        if saved_frozen and os.path.isdir(saved_frozen):
            self.frozen = self._from_pretrained(saved_frozen).eval().requires_grad_(False)
        elif self.model is not None and (not checkpoint or self.reward_source == "frozen_rm"):
            self.frozen = self._frozen_copy(self.model)  # the initial RM is the first version
        elif checkpoint and self.cfg.init_from:  # a checkpoint written before rm_frozen/ was saved
            self.frozen = self._from_pretrained(self.cfg.init_from).eval().requires_grad_(False)
        else:
            self.frozen = None

    def save(self, directory: str) -> None:
        """`directory/rm` and, once it is a separate model, `directory/rm_frozen`."""
        if self.model is not None:
            self.accelerator.unwrap_model(self.model).save_pretrained(os.path.join(directory, "rm"))
        if self.frozen is not None and self.frozen is not self.model:
            self.frozen.save_pretrained(os.path.join(directory, "rm_frozen"))

    def scores(self, prompts: list[str], responses: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(live, frozen) scores in [0, 1], each (N,) on the CPU, or None while that RM does not exist yet."""
        live = self._reward(self.model, prompts, responses)
        return live, live if self.frozen is self.model else self._reward(self.frozen, prompts, responses)

    def trains_at(self, step: int) -> bool:
        """Every `rm.update_every` steps; a `frozen_rm` run trains only its first version, if it has none."""
        if step % self.cfg.update_every:
            return False
        return not (self.reward_source == "frozen_rm" and self.frozen is not None)

    def fit(self, records: list[OutcomeRecord] | list[StepRecord],
            replay: list[OutcomeRecord] | list[StepRecord]) -> dict[str, float]:
        """Continue training the live RM (a fresh one from `rm.encoder` the first time); the first version
        is kept as the frozen one."""
        if self.model is None:
            model_cls = StepRewardModel if self.level == "step" else ScalarRewardModel
            lora = dataclasses.asdict(self.cfg.lora) if self.cfg.lora is not None else None
            self.model = model_cls.from_encoder(self.cfg.encoder, pooling=self.cfg.pooling, policy=self.policy,
                                                max_length=self.cfg.max_length, seed=self.seed, lora=lora)
            self.model.to(self.accelerator.device)
            self.trainer = self._trainer(self.model)
        metrics = self.trainer.fit(records, replay=replay)
        if self.frozen is None:
            self.frozen = self._frozen_copy(self.model)
        return metrics

    def step_scores(self, prompts: list[str], responses: list[str],
                    spans: list[list[tuple[int, int]]]) -> tuple[StepScores | None, StepScores | None]:
        """A step-level RM's (live, frozen) scores in [0, 1]: each response's steps (NaN where the length limit
        cut a step away) and the outcome-level aggregate of them (`StepRewardModel.aggregate`); None while that
        RM does not exist yet. A response without steps is scored as one step for its outcome-level score."""
        live = self._step_reward(self.model, prompts, responses, spans)
        return live, live if self.frozen is self.model else self._step_reward(self.frozen, prompts, responses, spans)

    def _step_reward(self, model, prompts, responses, spans) -> StepScores | None:
        if model is None:
            return None
        whole = [s or [(0, len(r))] for s, r in zip(spans, responses)]
        raw = model.score_steps(prompts, responses, whole, batch_size=self.cfg.score_batch_size)
        loss = model.trained_with or "bce"
        outcome = torch.stack([aggregate_steps(r, model.aggregate) for r in raw]) if raw else torch.empty(0)
        return [to_unit_scale(r[:len(s)], loss) for r, s in zip(raw, spans)], to_unit_scale(outcome, loss)

    def _trainer(self, model) -> RMTrainer:
        return (StepRMTrainer if self.level == "step" else RMTrainer)(model, self.cfg.train,
                                                                      accelerator=self.accelerator)

    def _from_pretrained(self, path: str) -> ScalarRewardModel:
        model = ScalarRewardModel.from_pretrained(path)
        if model.level != self.level:
            need = "supervision=process needs a step-level RM (reward_model.train --level step)" \
                if self.level == "step" else "supervision=outcome needs an outcome-level RM"
            raise ValueError(f"{path} holds a reward model of level {model.level!r}; loop.{need}")
        return model.to(self.accelerator.device)

    def _frozen_copy(self, model: ScalarRewardModel) -> ScalarRewardModel:
        """`model` as it is now, never trained again: `model` itself when the run's reward is the frozen RM."""
        if self.reward_source == "frozen_rm":
            return model
        return copy.deepcopy(self.accelerator.unwrap_model(model)).eval().requires_grad_(False)

    def _reward(self, model, prompts, responses) -> torch.Tensor | None:
        if model is None:
            return None
        return model.reward(prompts, responses, batch_size=self.cfg.score_batch_size).cpu()
