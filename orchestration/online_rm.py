"""The reward model's life in the online loop: loaded or created, scored on the verifier's [0, 1] scale,
re-trained every N steps, and its first version kept frozen beside it.

    live    `OnlineRM.model`: rewards `rm` and `mix` runs; re-trained every `rm.update_every` steps on the new
            outcomes plus replayed history (its optimizer state persists across updates: `OnlineRM.trainer`)
    frozen  `OnlineRM.frozen`: the first version (`rm.init_from`, else the loop's first update), never trained
            again. It rewards `frozen_rm` runs (there it is the live model itself, which then never updates),
            and in every run it scores the same fresh batches as the live one (`rm_frozen/*`), which makes
            distribution shift visible: a frozen RM judging a policy that has moved on.
"""

from __future__ import annotations

import copy
import os

import torch

from reward_model import ScalarRewardModel
from reward_model.data import OutcomeRecord
from reward_model.train import RMTrainer


class OnlineRM:
    def __init__(self, cfg, reward_source: str, seed: int, accelerator):
        """`cfg`: the run's `RewardModelConfig`."""
        self.cfg, self.reward_source, self.seed, self.accelerator = cfg, reward_source, seed, accelerator
        self.model: ScalarRewardModel | None = None
        self.trainer: RMTrainer | None = None
        self.frozen: ScalarRewardModel | None = None

    def load(self, checkpoint: str | None) -> None:
        """The checkpoint's RMs (`rm/`, `rm_frozen/`), else `rm.init_from`, else none until the first update."""
        saved = checkpoint and os.path.join(checkpoint, "rm")
        path = saved if saved and os.path.isdir(saved) else self.cfg.init_from
        self.model = self._from_pretrained(path) if path else None
        self.trainer = RMTrainer(self.model, self.cfg.train, accelerator=self.accelerator) if self.model else None
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

    def fit(self, records: list[OutcomeRecord], replay: list[OutcomeRecord]) -> dict[str, float]:
        """Continue training the live RM (a fresh one from `rm.encoder` the first time); the first version
        is kept as the frozen one."""
        if self.model is None:
            self.model = ScalarRewardModel.from_encoder(self.cfg.encoder, pooling=self.cfg.pooling,
                                                        max_length=self.cfg.max_length, seed=self.seed)
            self.model.to(self.accelerator.device)
            self.trainer = RMTrainer(self.model, self.cfg.train, accelerator=self.accelerator)
        metrics = self.trainer.fit(records, replay=replay)
        if self.frozen is None:
            self.frozen = self._frozen_copy(self.model)
        return metrics

    def _from_pretrained(self, path: str) -> ScalarRewardModel:
        return ScalarRewardModel.from_pretrained(path).to(self.accelerator.device)

    def _frozen_copy(self, model: ScalarRewardModel) -> ScalarRewardModel:
        """`model` as it is now, never trained again: `model` itself when the run's reward is the frozen RM."""
        if self.reward_source == "frozen_rm":
            return model
        return copy.deepcopy(self.accelerator.unwrap_model(model)).eval().requires_grad_(False)

    def _reward(self, model, prompts, responses) -> torch.Tensor | None:
        if model is None:
            return None
        return model.reward(prompts, responses, batch_size=self.cfg.score_batch_size).cpu()
