"""The online loop: GRPO on the policy, with a reward model re-trained every N steps from verified outcomes.

One step (DESIGN.md, `OnlineTrainer.train_step`):
    B prompts (a curriculum may choose them) -> k completions each -> verifier outcomes (and, for process
    supervision, step labels) -> RM scores, live and frozen (no RM version that scores a batch has trained on
    it) -> rewards (a weighted sum of `loop.terms`) -> outcome buffer -> [refill rounds until B groups carry a
    signal] -> held-out RM monitor -> advantages (per completion, or per token from step rewards) -> policy
    update -> every N steps: RM update on the new rows + replayed history, maybe reset the reference -> metrics
    -> every C steps: checkpoint (what it holds: `state_dict`, `save_models`; `run_state.Checkpointable`)

`OnlineTrainer` owns the policy, the reference and the run state; the reward model's life is
`orchestration.online_rm.OnlineRM`; `orchestration/train_loop.py` is the thin entry point.
Under `accelerate launch` each process samples its own prompts; outcomes are gathered and only the main
process writes files.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, replace

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed

from orchestration import run_state
from orchestration.buffer import OutcomeBuffer, OutcomeRow
from orchestration.config import TrainConfig
from orchestration.console import Console, StepClock, eval_line, format_seconds
from orchestration.curriculum import Curriculum
from orchestration.data_sources import build_sources
from orchestration.metrics import HackingAlarm, MetricsLogger, timer
from orchestration.online_rm import OnlineRM, outcome_records, step_records
from orchestration.policy_slot import PolicySlot
from orchestration.preemption import Preempted, StopOnSignal
from orchestration.preflight import VerifierUnavailable, check_verifiers, verifier_kinds
from orchestration.processes import flags, gathered, gathered_monitor, gathered_step_monitor, mean_over_processes
from orchestration.reward_terms import RM_TERMS, TermBatch, combine_terms, well_formatted, within_group_std
from orchestration.rewards import prompt_text, verifier_errors, verify
from orchestration.step_batch import RMScores, StepBatch
from orchestration.step_labels import (
    monte_carlo_step_labels,
    paid_step_rewards,
    rule_step_labels,
    step_label_metrics,
    step_rewards,
)
from orchestration.tasks import TaskItem
from policy.grpo import group_advantages, mix_advantages, process_advantages
from policy.sampling import chat_prompts, sample_groups
from policy.steps import step_tensors
from policy.update import GRPOUpdater
from verifiers import Outcome
from verifiers.outcome import UNLABELLED
from verifiers.steps import LabelledStep, StepOutcome


@dataclass
class RunState:
    """Everything besides model/optimizer tensors that a resumed run needs to continue exactly."""

    step: int = 0  # policy steps completed
    data_position: int = 0  # next index into the training task source
    rm_version: int = 0  # 0 = no RM update yet (the initial RM, or verifier warm-up without one)
    rm_rows_seen: int = 0  # buffer rows the RM has trained on (rows after this are "new")
    reference_reset: bool = False  # the reference no longer equals the initial policy


class OnlineTrainer:
    def __init__(self, cfg: TrainConfig, output_dir: str, accelerator: Accelerator | None = None):
        self.cfg, self.output_dir = cfg, output_dir
        self.accelerator = accelerator or Accelerator()
        check_distributed_type(self.accelerator)
        set_seed(cfg.loop.seed)  # global RNGs (dropout, initialisations); sampling has its own per-step seeds
        self.is_main = self.accelerator.is_main_process
        self.console = Console(enabled=self.is_main)
        self.train_source, self.eval_items = build_sources(cfg.data, cfg.loop.seed)
        with self.console.announce("checking the verifiers"):  # before any model loads
            check_verifiers(
                verifier_kinds(self.train_source, self.eval_items),
                timeout=cfg.loop.verifier_timeout,
                fallback_last_number=cfg.loop.math_last_number_fallback,
            )
        self.paths = {
            name: os.path.join(output_dir, name) for name in ("outcomes.jsonl", "metrics.jsonl", "samples.jsonl")
        }
        self.buffer = OutcomeBuffer(self.paths["outcomes.jsonl"])
        self.logger = MetricsLogger(
            self.paths["metrics.jsonl"] if self.is_main else None,
            self.accelerator,
            use_trackers=bool(cfg.logging.report_to),
        )
        self.alarm = HackingAlarm(cfg.loop.hacking_window)
        self.state = RunState()
        self.policy = PolicySlot(cfg, self.accelerator)
        self.pending_row: dict | None = None  # a step's metrics row waiting for its evaluation (see _end_step)
        # Models and state from the newest sound checkpoint (damaged ones are set aside), or the initial models
        # when there is none (logs of a run that never reached a checkpoint are moved aside, not erased).
        with self.console.announce("loading the policy, its reference and the reward model"):
            run_state.resume(self, self._load_models)

    # ------------------------------------------------------------------ setup

    def _load_models(self, checkpoint: str | None) -> None:
        cfg = self.cfg
        self.policy.load(checkpoint)
        self.updater = GRPOUpdater(self.model, cfg.grpo, ref_model=self.reference, accelerator=self.accelerator)
        self.rm = OnlineRM(
            cfg.rm,
            cfg.loop.seed,
            self.accelerator,
            level="step" if cfg.plan.step_level else "outcome",
            policy=cfg.policy.name_or_path,
            rewards_frozen=cfg.plan.rm == "frozen",
        )
        self.rm.load(checkpoint)

    @property
    def model(self):
        return self.policy.model

    @property
    def tokenizer(self):
        return self.policy.tokenizer

    @property
    def reference(self):
        return self.policy.reference

    # ---------------------------------------------------------- what a checkpoint holds (run_state.Checkpointable)

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def keep_checkpoints(self) -> int:
        return self.cfg.loop.keep_checkpoints

    def state_dict(self) -> dict:
        """Everything but the weights that a resumed run needs: run state, both optimizers and schedules, the
        alarm's window, the curriculum's state and a metrics row waiting for its evaluation."""
        updater = self.updater.state_dict()
        if self.state.step >= self.cfg.loop.max_steps and not self.cfg.loop.final_optimizer_state:
            # A finished run's last checkpoint: AdamW's moments (2 x the policy's size) only matter to a run
            # extended past max_steps, which then restarts them (said when it resumes).
            updater = {**updater, "optimizer": {**updater["optimizer"], "state": {}}}
        return {
            "state": asdict(self.state),
            "updater": updater,
            "rm_trainer": self.rm.trainer.state_dict() if self.rm.trainer else None,
            "alarm": self.alarm.state_dict(),
            "curriculum": self.train_source.state_dict() if isinstance(self.train_source, Curriculum) else None,
            "pending_row": self.pending_row,
        }

    def load_state_dict(self, saved: dict) -> None:
        self.state = RunState(**saved["state"])
        self.updater.load_state_dict(saved["updater"])
        if (
            not saved["updater"]["optimizer"]["state"]
            and self.updater.optimizer_steps
            and self.state.step < self.cfg.loop.max_steps
        ):
            print(
                f"warning: the checkpoint of step {self.state.step} ended a finished run and holds no AdamW moments "
                "(loop.final_optimizer_state=false): the policy's optimizer restarts them, so this extended run is "
                "not what one longer run would have been"
            )
        if saved["rm_trainer"] is not None:
            self.rm.trainer.load_state_dict(saved["rm_trainer"])
        self.alarm.load_state_dict(saved["alarm"])
        if saved.get("curriculum") is not None:
            self.train_source.load_state_dict(saved["curriculum"])
        self.pending_row = saved.get("pending_row")

    def save_models(self, directory: str) -> None:
        """The policy's files (`PolicySlot.save`: `policy/`, `reference/` once reset, LoRA's `policy_adapter/`),
        `rm/` and `rm_frozen/`."""
        self.policy.save(directory, self.state.reference_reset)
        self.rm.save(directory)

    # ------------------------------------------------------------------ one step

    def _next_items(self) -> list[TaskItem]:
        """This process's B prompts; the global position advances by B * processes. A curriculum draws the
        B * processes prompts of every process (its state is the same on each) and hands out the slices."""
        b, rank, world = self.cfg.loop.prompts_per_step, self.accelerator.process_index, self.accelerator.num_processes
        if isinstance(self.train_source, Curriculum):
            items = self.train_source.draw(b * world)[rank * b : (rank + 1) * b]
        else:
            start = self.state.data_position + rank * b
            items = [self.train_source.item(start + i) for i in range(b)]
        self.state.data_position += b * world
        return items

    def _record_curriculum(self, batch: StepBatch) -> dict[str, float]:
        """Every group's (level, verified accuracy), from every process, into the curriculum."""
        if not isinstance(self.train_source, Curriculum):
            return {}
        k = self.cfg.loop.group_size
        results = [
            (batch.items[i].meta.get("level"), sum(o.correct for o in batch.outcomes[i : i + k]) / k)
            for i in range(0, len(batch.items), k)
        ]
        self.train_source.record(gathered(self.accelerator, results))
        return self.train_source.metrics()

    def _sample(self, items: list[TaskItem], group_size: int, sampling, seed: int, model=None, progress=None):
        prompts = chat_prompts(self.tokenizer, [item.prompt for item in items], self.cfg.policy.use_chat_template)
        model = model or self.policy.unwrapped
        return sample_groups(model, self.tokenizer, prompts, group_size, sampling, seed=seed, progress=progress)

    def train_step(self) -> dict[str, float]:
        """One policy step, in the paper's order: sample -> verify -> score (held out) -> reward -> store ->
        advantages -> policy update -> every N steps, RM update -> maybe reset the reference.

        With `loop.refill_rounds` (DAPO's dynamic sampling) more prompts are sampled, round by round, until
        the batch holds `prompts_per_step` groups whose rewards differ; every round's outcomes are stored
        and monitored, and the update trains on the first `prompts_per_step` groups with a signal."""
        cfg, step = self.cfg, self.state.step + 1
        timings: dict[str, float] = {}
        batch = self._round(step, 0, timings)
        rounds = 0
        while (
            rounds < cfg.loop.refill_rounds
            and flags(self.accelerator, self._signal_groups(batch.rewards).sum() < cfg.loop.prompts_per_step).any()
        ):
            rounds += 1
            pad_id = (
                self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
            )
            batch = StepBatch.concat([batch, self._round(step, rounds, timings)], pad_id)
        metrics = {**self._verifier_error_metrics(batch), **self._monitors(batch), **self._reward_metrics(batch)}
        if cfg.loop.drop_uniform_groups:  # the share of every group sampled this step, as DAPO reports it
            metrics["loop/uniform_groups_dropped"] = 1.0 - self._signal_groups(batch.rewards).float().mean().item()
        if cfg.loop.refill_rounds:
            metrics["loop/refill_rounds"] = float(rounds)
        metrics.update(self._record_curriculum(batch))
        with timer("policy_update", timings):
            metrics.update(self._policy_update(step, self._curated(batch)))
        if self.rm.trains_at(step):
            with timer("rm_update", timings):
                metrics.update(self._update_rm())
            if cfg.loop.reset_reference_on_rm_update and self.reference is not None:
                self.policy.reset_reference()
                self.state.reference_reset = True
        self._maybe_log_samples(step, batch)
        self.state.step = step
        metrics.update(timings)
        metrics["timing/step"] = sum(timings.values())
        metrics = mean_over_processes(self.accelerator, metrics)
        rm_reward = self._rm_reward(metrics)
        if rm_reward is not None and self.alarm.update(rm_reward, metrics["verifier/accuracy"]):
            metrics["rm/hacking_alarm"] = 1.0
            print(
                f"[step {step}] ALARM: RM reward rising while verified accuracy falls over the last "
                f"{self.alarm.window} steps: the policy may be exploiting the reward model"
            )
        return metrics

    def _rm_reward(self, metrics: dict[str, float]) -> float | None:
        """What the reward-hacking alarm watches: the mean reward an RM gave this step, when an RM term rewards the
        run (nonzero weight) and a rule judged the batch, or the mean reward of the prompts without an answer when
        the RM rewards only those (`loop.unlabelled_reward`); None otherwise (a run no RM rewards cannot be hacking
        one, and the RM it trains beside the reward is only a monitor)."""
        if self.cfg.loop.algorithm != "grpo" or "verifier/accuracy" not in metrics:
            return None
        name = next((t.name for t in self.cfg.plan.terms if t.name in RM_TERMS and t.weight), None)
        key = f"reward/{name}" if name else "reward/unlabelled_mean" if self.cfg.plan.unlabelled else None
        value = metrics.get(key) if key else None
        return value if isinstance(value, float) and math.isfinite(value) else None

    def _monitors(self, batch: StepBatch) -> dict[str, float]:
        """The RMs' held-out figures on this batch, which no RM version that scored it has trained on: live (rm/*)
        and frozen (rm_frozen/*) against the verifier, and for a step RM per step against the step labels."""
        acc = self.accelerator
        metrics = {
            **gathered_monitor(acc, "rm", batch.scores.live, batch.outcomes, batch.groups),
            **gathered_monitor(acc, "rm_frozen", batch.scores.frozen, batch.outcomes, batch.groups),
        }
        if batch.steps is not None:
            labels = batch.step_labels
            metrics.update(gathered_step_monitor(acc, "prm", batch.step_scores.live, labels, batch.groups))
            metrics.update(gathered_step_monitor(acc, "prm_frozen", batch.step_scores.frozen, labels, batch.groups))
        return metrics

    def _round(self, step: int, round_: int, timings: dict[str, float]) -> StepBatch:
        """B fresh prompts: sample k completions each, verify, score with the RMs (versions that have not
        trained on them), reward, and store the outcomes. Round 0 is the step's batch; later rounds refill it."""
        cfg, k = self.cfg, self.cfg.loop.group_size
        items = self._next_items()
        with timer("generate", timings), self.policy.behaviour() as model:
            purpose = "sample" if round_ == 0 else f"sample-refill-{round_}"
            rollouts = self._sample(items, k, cfg.sampling, seed=self._seed(purpose, step), model=model)
        expanded = [item for item in items for _ in range(k)]
        with timer("verify", timings):
            outcomes = self._verify(expanded, rollouts)
        errors = self._count_verifier_errors(step, outcomes)  # raises past loop.max_verifier_error_fraction
        steps = None
        if cfg.loop.supervision == "process" and cfg.loop.step_labels == "rule":
            with timer("verify_steps", timings):
                steps = self._check_steps(expanded, rollouts, outcomes)
        elif cfg.loop.supervision == "process":
            with timer("mc_labels", timings):
                steps = self._monte_carlo_steps(step, round_, expanded, rollouts, outcomes)
        prompts = [prompt_text(item) for item in expanded]
        where = f"{step}:{self.accelerator.process_index}" + (f":r{round_}" if round_ else "")
        groups = [f"{where}:{i // k}" for i in range(len(expanded))]
        references = [item.gold for item in expanded]  # what a reference-aware RM reads beside the completion
        self.rm.check_references(references, [item.id for item in expanded])
        read = {"references": references} if self.rm.reference else {}
        step_scores = RMScores()
        with timer("rm_score", timings):  # no RM version scoring this batch has trained on it
            if steps is None:
                scores = self.rm.scores(prompts, rollouts.texts, **read)
            else:  # the step RM: each step's score, and their aggregate as the outcome-level score
                spans = [[(s.start, s.end) for s in judged] for judged in steps]
                step_scores, scores = self.rm.step_scores(prompts, rollouts.texts, spans, **read)
        completion_ids = [
            row[mask.bool()].tolist()
            for row, mask in zip(rollouts.completion_ids.cpu(), rollouts.completion_mask.cpu())
        ]
        rewards, terms = combine_terms(
            cfg.plan.terms,
            TermBatch(
                expanded,
                rollouts.texts,
                completion_ids,
                rollouts.truncated.tolist(),
                outcomes,
                scores.live,
                scores.frozen,
                cfg.sampling.max_new_tokens,
                cfg.plan.unlabelled,
            ),
        )
        self._append_outcomes(
            step,
            expanded,
            prompts,
            groups,
            rollouts.texts,
            outcomes,
            scores.live,
            rewards,
            steps,
            truncated=rollouts.truncated.tolist(),
        )
        return StepBatch(
            items=expanded,
            rollouts=rollouts,
            outcomes=outcomes,
            prompts=prompts,
            groups=groups,
            scores=scores,
            rewards=rewards,
            terms=terms,
            verifier_errors=errors,
            steps=steps,
            step_scores=step_scores,
        )

    def _check_steps(self, items: list[TaskItem], rollouts, outcomes: list[Outcome]) -> list[list[StepOutcome]]:
        """Rule step labels (`step_labels.rule_step_labels`)."""
        return rule_step_labels(
            items, rollouts.texts, outcomes, self.cfg.loop.verifier_timeout, path=self.cfg.loop.path_labels
        )

    def _monte_carlo_steps(
        self, step: int, round_: int, items: list[TaskItem], rollouts, outcomes: list[Outcome]
    ) -> list[list[LabelledStep]]:
        """Monte-Carlo step labels from the behaviour policy's continuations (`step_labels.monte_carlo_step_labels`)."""
        with self.policy.behaviour() as model:
            return monte_carlo_step_labels(
                items, rollouts.texts, outcomes, model, self.tokenizer, self.cfg, seed=self._seed(f"mc-{round_}", step)
            )

    def _signal_groups(self, rewards: torch.Tensor) -> torch.Tensor:
        """(groups,) bool: the group's rewards differ, so GRPO has something to learn from it."""
        grouped = rewards.view(-1, self.cfg.loop.group_size)
        return grouped.amax(dim=1) != grouped.amin(dim=1)

    def _curated(self, batch: StepBatch) -> StepBatch:
        """After refill rounds: the first B groups with a signal, topped up with uniform ones (which
        `drop_uniform_groups` masks), so every step and every process trains on B groups."""
        b = self.cfg.loop.prompts_per_step
        if len(batch.rewards) == b * self.cfg.loop.group_size:
            return batch
        signal = self._signal_groups(batch.rewards).tolist()
        order = [g for g, s in enumerate(signal) if s] + [g for g, s in enumerate(signal) if not s]
        return batch.select_groups(sorted(order[:b]))

    def _policy_update(self, step: int, batch: StepBatch) -> dict[str, float]:
        """GRPO: group-relative advantages of the rewards, per completion, or per token from the steps' rewards
        (process supervision). `online_rft` / `rft` (the paper's unified paradigm, §5.2): gradient coefficient 1 on
        verified-correct completions and 0 on the rest, no negative signal."""
        loop, rollouts, rewards = self.cfg.loop, batch.rollouts, batch.rewards
        if not flags(self.accelerator, torch.isfinite(rewards).all()).all():  # all skip together, or DDP hangs
            print(f"[step {step}] non-finite rewards from {self.cfg.plan.source}: policy update skipped")
            return {"policy/skipped": 1.0}
        if loop.drop_uniform_groups:
            rollouts = self._drop_uniform_groups(rollouts, rewards)
            if not flags(self.accelerator, rollouts.completion_mask.any()).any():
                return {"policy/skipped": 1.0}  # no group with a signal anywhere: nothing to learn
        metrics = {}
        if loop.supervision == "process":
            advantages, metrics = self._process_advantages(batch)
        elif loop.algorithm == "grpo":
            advantages = group_advantages(rewards, loop.group_size, scale=self.cfg.grpo.scale)
        else:
            advantages = torch.tensor([float(o.correct) for o in batch.outcomes])
        return {**metrics, **self.updater.step(rollouts, advantages)}

    def _process_advantages(self, batch: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Per-token advantages from the steps' rewards (§4.1.3, credited as `grpo.process_credit` says), after the
        progress rules, with `loop.outcome_share` of the verified outcome's advantage mixed in."""
        loop, rollouts = self.cfg.loop, batch.rollouts
        raw = step_rewards(batch.step_labels, batch.step_scores.of(self.cfg.plan.rm))
        paid, metrics = paid_step_rewards(raw, batch.steps, rollouts.texts, batch.items, loop.max_rewarded_steps)
        step_reward, step_ends = step_tensors(
            self.tokenizer, rollouts.completion_ids, rollouts.completion_mask, batch.steps, paid
        )
        advantages = process_advantages(step_reward, step_ends, loop.group_size, credit=self.cfg.grpo.process_credit)
        if loop.outcome_share:  # a share of the verified outcome's advantage on every token
            verified = torch.tensor([float(o.score) for o in batch.outcomes], device=advantages.device)
            outcome = group_advantages(verified, loop.group_size, scale=self.cfg.grpo.scale)
            advantages = mix_advantages(advantages, outcome, loop.outcome_share)
        return advantages, metrics

    def _drop_uniform_groups(self, rollouts, rewards: torch.Tensor):
        """Mask out of the loss every group whose rewards are all equal: its advantages are 0, yet it would
        count in seq_mean's denominator and pull on the KL term. Masked, not removed, so every data-parallel
        process keeps the same shapes (the packed log-probs skip empty completions, saving their compute)."""
        keep = self._signal_groups(rewards).repeat_interleave(self.cfg.loop.group_size)
        return replace(
            rollouts, completion_mask=rollouts.completion_mask * keep.to(rollouts.completion_mask.device)[:, None]
        )

    def _verify(self, items: list[TaskItem], rollouts):
        return verify(
            items,
            rollouts.texts,
            timeout=self.cfg.loop.verifier_timeout,
            fallback_last_number=self.cfg.loop.math_last_number_fallback,
            truncated=rollouts.truncated.tolist(),
        )

    def _count_verifier_errors(self, step: int, outcomes) -> tuple[int, int]:
        """(outcomes whose verifier broke, outcomes a rule judged), over every process; stops the run past
        the threshold.

        Such outcomes are `correct=False` whatever the response was: training on them would be training on
        silence, so a step with too many of them stops the run before anything learns from it."""
        errors, first = verifier_errors(outcomes)
        counts = gathered(self.accelerator, [(errors, sum(o.reason != UNLABELLED for o in outcomes), first)])
        errors, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
        first = next((c[2] for c in counts if c[2]), None)
        if errors:
            print(f"[step {step}] verifier errors in {errors}/{total} outcomes; first: {first}")
        if total and errors / total > self.cfg.loop.max_verifier_error_fraction:
            raise VerifierUnavailable(
                f"step {step}: {errors} of {total} outcomes are verifier errors (more than "
                f"loop.max_verifier_error_fraction={self.cfg.loop.max_verifier_error_fraction}); first: {first}"
            )
        return errors, total

    @staticmethod
    def _verifier_error_metrics(batch: StepBatch) -> dict[str, float]:
        errors, total = batch.verifier_errors
        return {"verifier/errors": float(errors), "verifier/error_fraction": errors / total if total else 0.0}

    def _seed(self, purpose: str, step: int) -> int:
        """Per-step seeds: a resumed run draws exactly what the uninterrupted run would have drawn."""
        key = f"{self.cfg.loop.seed}:{purpose}:{step}:{self.accelerator.process_index}"
        return random.Random(key).getrandbits(31)

    def _append_outcomes(
        self,
        step,
        items,
        prompts,
        groups,
        responses,
        outcomes,
        scores,
        rewards,
        steps=None,
        truncated: list[bool] | None = None,
    ) -> None:
        rows = [
            OutcomeRow(
                step=step,
                task_id=item.id,
                group=group,
                prompt=prompt,
                response=response,
                outcome=o.score,
                correct=o.correct,
                reason=o.reason[:200],
                verifier=item.verifier,
                rm_score=None if scores is None else float(scores[i]),
                rm_version=self.state.rm_version,
                reward=float(rewards[i]),
                steps=None if steps is None else [[s.start, s.end, s.label] for s in steps[i]],
                reference=item.gold,
                truncated=None if truncated is None else bool(truncated[i]),
            )
            for i, (item, group, prompt, response, o) in enumerate(zip(items, groups, prompts, responses, outcomes))
        ]
        rows = gathered(self.accelerator, rows)
        if self.is_main:
            self.buffer.append(rows)
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            self.buffer.refresh()

    def _update_rm(self) -> dict[str, float]:
        """Continue training the RM on the rows since its last update plus a replay sample of older ones, and
        (`rm.hard_negatives`) on rewrites of their verified-correct completions into wrong answers, pairwise."""
        rm_cfg, start = self.cfg.rm, time.perf_counter()
        new = range(self.state.rm_rows_seen, len(self.buffer))
        rng = random.Random(f"{self.cfg.loop.seed}:replay:{self.state.rm_version}")
        replay = self.buffer.replay_indices(
            self.state.rm_rows_seen, rm_cfg.replay_fraction, rng, rm_cfg.replay_max_rows
        )
        records = step_records if self.rm.level == "step" else outcome_records
        new_records, replay_records = records(self.buffer.read(new)), records(self.buffer.read(replay))
        pairs, kinds = [], {}
        if rm_cfg.hard_negatives:
            from orchestration.hard_negatives import hard_negative_pairs

            pairs, kinds = hard_negative_pairs(
                new_records + replay_records,
                rm_cfg.hard_negatives,
                random.Random(f"{self.cfg.loop.seed}:hard-negatives:{self.state.rm_version}"),
                fallback_last_number=self.cfg.loop.math_last_number_fallback,
            )
        fit = self.rm.fit(new_records, replay=replay_records, **({"pairs": pairs} if pairs else {}))
        self.state.rm_version += 1
        self.state.rm_rows_seen = len(self.buffer)
        metrics = {f"rm/update/{key}": value for key, value in fit.items() if isinstance(value, (int, float))}
        metrics.update(
            {
                "rm/updated": 1.0,
                "rm/update/new_rows": len(new),
                "rm/update/replay_rows": len(replay),
                "rm/update/seconds": time.perf_counter() - start,
            }
        )
        if rm_cfg.hard_negatives:
            metrics["rm/update/hard_negatives"] = float(len(pairs))
            metrics.update({f"rm/update/hard_negatives_{kind}": float(n) for kind, n in kinds.items()})
        return metrics

    def _reward_metrics(self, batch: StepBatch) -> dict[str, float]:
        """Verifier and RM figures over the prompts a rule judged; unlabelled prompts are counted apart; the mean
        of each reward term before its weight (`reward/<name>`)."""
        rewards, outcomes, scores, rollouts = batch.rewards, batch.outcomes, batch.scores.live, batch.rollouts
        lengths = rollouts.completion_mask.sum(dim=1).float()
        unlabelled = [o.reason == UNLABELLED for o in outcomes]
        judged = [i for i, u in enumerate(unlabelled) if not u]
        k = self.cfg.loop.group_size
        metrics = {
            "reward/mean": rewards.mean().item(),
            "reward/std": rewards.std().item(),
            "reward/within_group_std": within_group_std(rewards, k),
            "rm/version": self.state.rm_version,
            "rm/warm_started": float(self.rm.warm_started),
            "completion/length_mean": lengths.mean().item(),
            "completion/truncated_fraction": rollouts.truncated.float().mean().item(),
            **{f"reward/{name}": values.mean().item() for name, values in batch.terms.items()},
            **{f"reward/within_group_std/{name}": within_group_std(values, k) for name, values in batch.terms.items()},
        }
        if judged:
            metrics.update(
                {
                    "verifier/accuracy": sum(outcomes[i].correct for i in judged) / len(judged),
                    "verifier/score_mean": sum(outcomes[i].score for i in judged) / len(judged),
                    "verifier/mixed_groups": _mixed_group_fraction(outcomes, self.cfg.loop.group_size),
                }
            )
            if scores is not None:
                metrics["rm/reward_mean"] = scores[judged].float().mean().item()
        if batch.steps is not None:
            metrics.update(step_label_metrics(batch.step_labels))
            if self.cfg.loop.path_labels:  # rule labels (config checks): the share of steps marked off the path
                flat = [s.off_path for row in batch.steps for s in row]
                metrics["process/off_path_steps"] = sum(flat) / len(flat) if flat else math.nan
        if any(unlabelled):
            metrics["reward/unlabelled_count"] = float(sum(unlabelled))
            metrics["reward/unlabelled_mean"] = rewards[torch.tensor(unlabelled)].mean().item()
        return metrics

    def _maybe_log_samples(self, step: int, batch: StepBatch) -> None:
        if not self.is_main or step % self.cfg.loop.log_samples_every:
            return
        with open(self.paths["samples.jsonl"], "a", encoding="utf-8") as f:
            for prompt, response, outcome, reward in list(
                zip(batch.prompts, batch.rollouts.texts, batch.outcomes, batch.rewards)
            )[:16]:
                f.write(
                    json.dumps(
                        {
                            "step": step,
                            "prompt": prompt,
                            "response": response,
                            "correct": outcome.correct,
                            "reason": outcome.reason,
                            "reward": float(reward),
                        }
                    )
                    + "\n"
                )

    # ------------------------------------------------------------------ evaluation and the run

    def evaluate(self, progress: bool = False, stop: StopOnSignal | None = None) -> dict[str, float]:
        """Verified accuracy on held-out prompts: greedy, and `data.eval_samples` temperature samples each; per
        level and per phrasing when the set holds several (`eval/{greedy,sampled}_accuracy_<level|phrasing>`), and
        the share of answers in the format the prompt asked for (`eval/*_format`). `progress`: a bar over the
        prompts (main process); `stop`: abandon (`_EvaluationAbandoned`) once it has been signalled."""
        from tqdm.auto import tqdm

        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        items, metrics = self.eval_items[rank::world], {}
        runs = (
            ("greedy", replace(self.cfg.sampling, temperature=0.0), 1),
            ("sampled", self.cfg.sampling, self.cfg.data.eval_samples),
        )
        with tqdm(
            total=2 * len(items),
            desc="held-out evaluation",
            leave=False,
            dynamic_ncols=True,
            disable=not (progress and self.is_main and self.cfg.logging.progress_bar),
        ) as bar:

            def advance(done: int) -> None:
                bar.update(done)
                if stop is not None and stop.requested:
                    raise _EvaluationAbandoned

            for name, sampling, n in runs:
                rollouts = self._sample(
                    items, n, sampling, seed=self._seed(f"eval-{name}", self.state.step), progress=advance
                )
                expanded = [item for item in items for _ in range(n)]
                outcomes = self._verify(expanded, rollouts)
                results = [
                    (
                        float(o.correct),
                        o.is_error,
                        item.meta.get("level"),
                        item.meta.get("phrasing"),
                        float(well_formatted(item.verifier, text)),
                    )
                    for item, o, text in zip(expanded, outcomes, rollouts.texts)
                ]
                results = gathered(self.accelerator, results)
                metrics.update(_eval_metrics(name, results))
                errors = sum(e for _, e, *_ in results)
                if errors:  # accuracy counts them as wrong: say so
                    metrics[f"eval/{name}_verifier_errors"] = float(errors)
                    first = next((o.reason for o in outcomes if o.is_error), "(on another process)")
                    print(f"evaluation ({name}): verifier errors in {errors}/{len(results)} outcomes; first: {first}")
        return metrics

    def _stop_before_step(self, before: RunState, error: VerifierUnavailable):
        """Checkpoint the last completed step (this one learned nothing and wrote nothing) and stop."""
        self.state = before  # the failed step's prompts are drawn again on resume
        where = "nothing was trained yet"
        if before.step > 0:
            path = run_state.save(self)
            where = f"checkpoint of step {before.step}: {path}" if self.is_main else "checkpoint saved"
        raise VerifierUnavailable(
            f"{error}\nThe run stopped before training on these outcomes ({where}). Fix the verifier (the "
            f"reason above says what broke), then re-run the same command to resume."
        ) from error

    def run(self) -> dict[str, float]:
        """Train to `loop.max_steps` (from a resumed checkpoint's step), evaluating, logging and checkpointing as
        configured; then `final/`. A stop signal ends the run at the next step boundary with a checkpoint
        (`orchestration.preemption`: raises `Preempted`)."""
        loop = self.cfg.loop
        if self.state.step >= loop.max_steps and self.pending_row is None:
            print(
                f"{self.output_dir} already holds {self.state.step} steps (max_steps={loop.max_steps}): nothing to do"
            )
            return {}
        with StopOnSignal(self.console.print) as stop:
            # Every metrics row is a policy step; the evaluation before training rides on step 1's row.
            initial, last = {}, {}
            if self.state.step == 0 and loop.initial_eval:
                try:
                    initial = self._evaluation(0, stop, initial=True)
                except _EvaluationAbandoned:
                    raise Preempted(stop.signum, 0, None) from None
            if self.pending_row is not None:  # a stop came before the last step's evaluation: do it now
                last = self._end_step(self.pending_row, stop, StepClock())
            last = self._train(stop, initial) or last
        if self.is_main:
            with self.console.announce(f"saving the final models to {os.path.join(self.output_dir, 'final')}"):
                run_state.save_final(self)
        self.accelerator.wait_for_everyone()
        return last

    def _train(self, stop: StopOnSignal, initial: dict[str, float]) -> dict[str, float]:
        from tqdm.auto import tqdm

        loop, clock, last = self.cfg.loop, StepClock(), {}
        bar = tqdm(
            total=loop.max_steps,
            initial=self.state.step,
            desc="GRPO",
            dynamic_ncols=True,
            disable=not (self.is_main and self.cfg.logging.progress_bar),
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )  # our ETA, in the postfix
        with bar:
            while self.state.step < loop.max_steps:
                before, started = replace(self.state), time.perf_counter()
                try:
                    metrics = {**self.train_step(), **initial}
                except VerifierUnavailable as e:
                    self._stop_before_step(before, e)
                initial = {}
                clock.record_step(time.perf_counter() - started)
                last = self._end_step(metrics, stop, clock)
                step = self.state.step
                bar.set_postfix(
                    _postfix(metrics, clock.remaining(loop.max_steps - step, _evaluations_left(loop, step))),
                    refresh=False,
                )
                bar.update(1)
        return last

    def _end_step(self, metrics: dict[str, float], stop: StopOnSignal, clock: StepClock) -> dict[str, float]:
        """After a policy step: its held-out evaluation if one is due, its metrics row, its checkpoint if due.

        On a stop signal the run checkpoints here and raises `Preempted`. A due evaluation not yet done (the
        signal came first, or abandoned it) is left pending: the row waits in the checkpoint
        (`pending_row`) and the resumed run evaluates and logs it first, so its rows equal an uninterrupted run's."""
        loop, step = self.cfg.loop, self.state.step
        eval_due = step % loop.eval_every == 0 or step == loop.max_steps
        stopping = self._stop_requested(stop)
        if eval_due and not stopping:
            try:
                metrics = {**metrics, **self._evaluation(step, stop, clock=clock)}
                eval_due = False
            except _EvaluationAbandoned:
                pass
            stopping = self._stop_requested(stop)
        if stopping and eval_due:
            self.pending_row = metrics
            raise Preempted(
                stop.signum or signal.SIGTERM,
                step,
                run_state.save(self),
                "; its held-out evaluation runs first when it resumes",
            )
        self.pending_row = None
        self.logger.log(metrics, step=step)
        checkpoint = None
        if stopping or step % loop.checkpoint_every == 0 or step == loop.max_steps:
            checkpoint = run_state.save(self)
        if stopping:
            raise Preempted(stop.signum or signal.SIGTERM, step, checkpoint)
        return metrics

    def _evaluation(self, step: int, stop: StopOnSignal, initial: bool = False, clock: StepClock | None = None):
        """`evaluate` with its own bar, one printed line and its time on the clock; a stop signal abandons it on a
        single process (`_EvaluationAbandoned`); across processes it finishes, as every rank must gather."""
        abandon = stop if self.accelerator.num_processes == 1 else None
        started = time.perf_counter()
        metrics = self.evaluate(progress=True, stop=abandon)
        if clock is not None:
            clock.record_eval(time.perf_counter() - started)
        if initial:
            metrics = {key.replace("eval/", "eval/initial_"): value for key, value in metrics.items()}
        self.console.print(eval_line(step, metrics, "eval/initial_" if initial else "eval/"))
        return metrics

    def _stop_requested(self, stop: StopOnSignal) -> bool:
        """A stop signal reached any process (all of them stop at the same step)."""
        return bool(flags(self.accelerator, stop.requested).any())


def check_distributed_type(accelerator) -> None:
    """The loop samples, evaluates and saves with the unwrapped policy, whose full weights every process holds
    under DDP (and DeepSpeed ZeRO-1/2). A sharded policy would generate with collectives per forward that
    ranks finishing at different lengths leave out of step (a hang), so FSDP stops here, before anything loads."""
    if accelerator.distributed_type == DistributedType.FSDP:
        raise ValueError(
            "the online loop does not run under FSDP: it samples with the policy's full weights on every process, "
            "and an FSDP-sharded policy would need its weights gathered for every generation (not built yet). "
            "Launch with data parallel instead (torchrun, or accelerate launch with a config whose distributed_type "
            "is MULTI_GPU or MULTI_CPU); GRPOUpdater itself runs under FSDP2 (tests/distributed)"
        )


def _eval_metrics(name: str, results: list[tuple]) -> dict[str, float]:
    """`eval/{name}_accuracy`, its share per level and per phrasing where the set holds several, and
    `eval/{name}_format`, from (correct, is_error, level, phrasing, well_formatted) per completion."""
    metrics = {
        f"eval/{name}_accuracy": sum(r[0] for r in results) / len(results),
        f"eval/{name}_format": sum(r[4] for r in results) / len(results),
    }
    for column, label in ((2, "level{}"), (3, "{}")):
        parts = sorted({r[column] for r in results if r[column] is not None})
        for part in parts if len(parts) > 1 else []:
            at = [r[0] for r in results if r[column] == part]
            metrics[f"eval/{name}_accuracy_{label.format(part)}"] = sum(at) / len(at)
    return metrics


def _mixed_group_fraction(outcomes, group_size: int) -> float:
    """Share of judged prompts whose group holds both right and wrong completions: the only ones with a signal."""
    groups = [outcomes[i : i + group_size] for i in range(0, len(outcomes), group_size)]
    groups = [g for g in groups if g[0].reason != UNLABELLED]
    return sum(len({o.correct for o in g}) == 2 for g in groups) / len(groups)


def _evaluations_left(loop, step: int) -> int:
    return sum(1 for s in range(step + 1, loop.max_steps + 1) if s % loop.eval_every == 0 or s == loop.max_steps)


def _postfix(metrics: dict[str, float], seconds_left: float | None = None) -> dict[str, str]:
    keys = {"reward": "reward/mean", "acc": "verifier/accuracy", "rm_acc": "rm/heldout_ranking_accuracy"}
    postfix = {
        name: f"{metrics[key]:.3f}"
        for name, key in keys.items()
        if key in metrics and isinstance(metrics[key], float) and math.isfinite(metrics[key])
    }
    if seconds_left is not None:
        postfix["left"] = format_seconds(seconds_left)
    return postfix


class _EvaluationAbandoned(Exception):
    """A stop signal arrived during a held-out evaluation on a single process."""
