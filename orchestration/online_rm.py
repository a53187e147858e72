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

A reference-aware RM (`rm.reference: true`, or an `rm.init_from` RM saved so) reads each prompt's gold answer
beside the completion, so every scored prompt needs one: a prompt without (an unlabelled or a code task) stops
the run with an error naming `rm.reference`. An `rm.init_from` RM whose setting differs from `rm.reference` is
refused at load. `origin` says where the first version came from (a warm start through `rm.init_from`, with the
warm start's own record, or a fresh encoder); every saved RM carries it in its reward_model.json.
"""

from __future__ import annotations

import copy
import hashlib
import os

import torch

from orchestration.step_batch import RMScores
from policy.model import load_policy
from reward_model import ScalarRewardModel
from reward_model.data import OutcomeRecord, PreferencePair, StepRecord
from reward_model.losses import to_unit_scale
from reward_model.model import POLICY_BACKBONE, WEIGHTS_FILE, policy_backbone_name
from reward_model.step_model import StepRewardModel, aggregate_steps
from reward_model.train import RMTrainer, StepRMTrainer
from verifiers.outcome import reason_has_label

StepScores = tuple[list[torch.Tensor], torch.Tensor]  # (each response's step scores, (N,) outcome-level scores)


class OnlineRM:
    def __init__(
        self,
        cfg,
        seed: int,
        accelerator,
        level: str = "outcome",
        policy: str | None = None,
        rewards_frozen: bool = False,
    ):
        """`cfg`: the run's `RewardModelConfig`; `level`: "outcome" (`ScalarRewardModel`) or "step"
        (`StepRewardModel`, process supervision); `policy`: the policy's starting checkpoint (`rm.encoder:
        policy` builds the RM on it)."""
        self.cfg, self.seed, self.accelerator = cfg, seed, accelerator
        self.rewards_frozen = rewards_frozen  # the run is rewarded by the first version: no RM trains past it
        self.level, self.policy = level, policy
        if level == "step" and cfg.hard_negatives:
            raise ValueError(
                f"rm.hard_negatives={cfg.hard_negatives} rewrites final answers to train the outcome RM; "
                "loop.supervision=process trains a step RM: set rm.hard_negatives 0"
            )
        self.model: ScalarRewardModel | None = None
        self.trainer: RMTrainer | None = None
        self.frozen: ScalarRewardModel | None = None

    def load(self, checkpoint: str | None) -> None:
        """The checkpoint's RMs (`rm/`, `rm_frozen/`), else `rm.init_from`, else none until the first update."""
        saved = checkpoint and os.path.join(checkpoint, "rm")
        path = saved if saved and os.path.isdir(saved) else self.cfg.init_from
        self.model = self._from_pretrained(path) if path else None
        if self.model is not None and path == self.cfg.init_from:  # a checkpoint's RM already carries its origin
            self.model.origin = init_origin(path, self.model.origin)
        self.trainer = self._trainer(self.model) if self.model else None
        saved_frozen = checkpoint and os.path.join(checkpoint, "rm_frozen")
        if saved_frozen and os.path.isdir(saved_frozen):
            self.frozen = self._from_pretrained(saved_frozen).eval().requires_grad_(False)
        elif self.model is not None and (not checkpoint or self.rewards_frozen):
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

    @property
    def reference(self) -> bool:
        """The RM reads each prompt's gold answer (`rm.reference`)."""
        return bool(self.cfg.reference)

    @property
    def warm_started(self) -> bool:
        """The first version came from `rm.init_from` (a warm start), not from the loop's first update."""
        first = self.frozen if self.frozen is not None else self.model
        return bool(first is not None and (first.origin or {}).get("source") == "init_from")

    def check_references(self, references: list[str | None], task_ids: list[str]) -> None:
        """A reference-aware RM cannot score a prompt without a gold answer: stop with what to change."""
        if not self.reference:
            return
        missing = [task for task, ref in zip(task_ids, references) if not ref]
        if missing:
            raise ValueError(
                f"rm.reference is true (the RM reads each prompt's gold answer) but task {missing[0]} "
                f"has none ({len(missing)} of {len(references)} completions this step): unlabelled prompts "
                "(data.unlabelled) and code tasks cannot be scored by a reference-aware RM; set "
                "rm.reference false, or train on labelled math prompts only"
            )

    def scores(self, prompts: list[str], responses: list[str], references: list[str | None] | None = None) -> RMScores:
        """The live and frozen RMs' scores in [0, 1], each (N,) on the CPU, or None while that RM does not exist
        yet. `references`: the prompts' gold answers, read by a reference-aware RM."""
        live = self._reward(self.model, prompts, responses, references)
        frozen = live if self.frozen is self.model else self._reward(self.frozen, prompts, responses, references)
        return RMScores(live, frozen)

    def trains_at(self, step: int) -> bool:
        """Every `rm.update_every` steps; a `frozen_rm` run trains only its first version, if it has none."""
        if step % self.cfg.update_every:
            return False
        return not (self.rewards_frozen and self.frozen is not None)

    def fit(
        self,
        records: list[OutcomeRecord] | list[StepRecord],
        replay: list[OutcomeRecord] | list[StepRecord],
        pairs: list[PreferencePair] | None = None,
    ) -> dict[str, float]:
        """Continue training the live RM (a fresh one from `rm.encoder` the first time) on records, replay and
        hard-negative `pairs`; the first version is kept as the frozen one."""
        if self.model is None:
            model_cls = StepRewardModel if self.level == "step" else ScalarRewardModel
            options = {
                "pooling": self.cfg.pooling,
                "max_length": self.cfg.max_length,
                "seed": self.seed,
                "lora": self.cfg.lora,
                "reference": self.reference,
            }
            if self.cfg.encoder == POLICY_BACKBONE:  # the policy's own base model, loaded as the policy is
                lm, tokenizer = load_policy(self.policy, dtype=torch.float32)
                self.model = model_cls.from_backbone(lm, tokenizer, name=policy_backbone_name(self.policy), **options)
            else:
                self.model = model_cls.from_encoder(self.cfg.encoder, **options)
            self.model.origin = {
                "source": "fresh",
                "encoder": self.model.encoder_name,
                "first_fit_rows": len(records) + len(replay),
            }
            self.model.to(self.accelerator.device)
            self.trainer = self._trainer(self.model)
        extra = {"pairs": pairs} if pairs else {}  # the step trainer takes none
        metrics = self.trainer.fit(records, replay=replay, **extra)
        if self.frozen is None:
            self.frozen = self._frozen_copy(self.model)
        return metrics

    def step_scores(
        self,
        prompts: list[str],
        responses: list[str],
        spans: list[list[tuple[int, int]]],
        references: list[str | None] | None = None,
    ) -> tuple[RMScores, RMScores]:
        """A step-level RM's scores in [0, 1], live and frozen: each response's steps (NaN where the length limit
        cut a step away), and the outcome-level aggregate of them (`StepRewardModel.aggregate`); None while that
        RM does not exist yet. A response without steps is scored as one step for its outcome-level score."""
        live = self._step_reward(self.model, prompts, responses, spans, references)
        frozen = (
            live if self.frozen is self.model else self._step_reward(self.frozen, prompts, responses, spans, references)
        )
        steps, outcome = zip(*(pair or (None, None) for pair in (live, frozen)))
        return RMScores(*steps), RMScores(*outcome)

    def _step_reward(self, model, prompts, responses, spans, references=None) -> StepScores | None:
        if model is None:
            return None
        whole = [s or [(0, len(r))] for s, r in zip(spans, responses)]
        extra = {"references": references} if model.reference else {}
        raw = model.score_steps(prompts, responses, whole, batch_size=self.cfg.score_batch_size, **extra)
        loss = model.trained_with or "bce"
        outcome = torch.stack([aggregate_steps(r, model.aggregate) for r in raw]) if raw else torch.empty(0)
        return [to_unit_scale(r[: len(s)], loss) for r, s in zip(raw, spans)], to_unit_scale(outcome, loss)

    def _trainer(self, model) -> RMTrainer:
        return (StepRMTrainer if self.level == "step" else RMTrainer)(
            model, self.cfg.train.trainer_config(), accelerator=self.accelerator
        )

    def _from_pretrained(self, path: str) -> ScalarRewardModel:
        model = ScalarRewardModel.from_pretrained(path)
        if model.level != self.level:
            need = (
                "supervision=process needs a step-level RM (reward_model.train --level step)"
                if self.level == "step"
                else "supervision=outcome needs an outcome-level RM"
            )
            raise ValueError(f"{path} holds a reward model of level {model.level!r}; loop.{need}")
        if model.reference != self.reference:
            saved = "reads the gold answer (reference-aware)" if model.reference else "is reference-free"
            raise ValueError(
                f"{path} holds an RM that {saved} (its reward_model.json: reference "
                f"{str(model.reference).lower()}) but rm.reference is {str(self.reference).lower()}: set "
                f"rm.reference {str(model.reference).lower()}, or start from another RM"
            )
        return model.to(self.accelerator.device)

    def _frozen_copy(self, model: ScalarRewardModel) -> ScalarRewardModel:
        """`model` as it is now, never trained again: `model` itself when the run's reward is the frozen RM."""
        if self.rewards_frozen:
            return model
        return copy.deepcopy(self.accelerator.unwrap_model(model)).eval().requires_grad_(False)

    def _reward(self, model, prompts, responses, references=None) -> torch.Tensor | None:
        if model is None:
            return None
        extra = {"references": references} if model.reference else {}
        return model.reward(prompts, responses, batch_size=self.cfg.score_batch_size, **extra).cpu()


def outcome_records(rows) -> list[OutcomeRecord]:
    """RM training examples from outcome-buffer rows (with the gold answer, which a reference-aware RM reads). Rows
    without a label (a verifier that broke, an unlabelled prompt) are left out; they stay in the buffer."""
    return [
        OutcomeRecord(prompt=r.prompt, response=r.response, outcome=r.outcome, group=r.group, reference=r.reference)
        for r in rows
        if reason_has_label(r.reason)
    ]


def step_records(rows) -> list[StepRecord]:
    """Step-RM training examples: rows with a label and steps (the step labels the rule gave)."""
    return [
        StepRecord(
            r.prompt,
            r.response,
            tuple((a, b) for a, b, _ in r.steps),
            tuple(label for _, _, label in r.steps),
            r.outcome,
            r.group,
            r.reference,
        )
        for r in rows
        if reason_has_label(r.reason) and r.steps
    ]


def init_origin(path: str, saved: dict | None) -> dict:
    """Where an `rm.init_from` RM comes from: its directory, a hash of its weights (the same directory may be
    overwritten later) and the origin it was saved with (a warm start's record, `orchestration.bootstrap`)."""
    digest = hashlib.sha256()
    with open(os.path.join(path, WEIGHTS_FILE), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return {
        "source": "init_from",
        "init_from": os.path.abspath(path),
        "weights_sha256": digest.hexdigest(),
        "saved_origin": saved,
    }
