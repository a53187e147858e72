"""Training the reward model: `RMTrainConfig`, the persistent `RMTrainer`, and the functional `train`.

The online loop keeps one `RMTrainer` for the whole run and calls `fit(new_records, replay=old_sample)`
every N policy steps; the AdamW state, the warm-up schedule and the step counters carry over between
calls (and through `state_dict` / `load_state_dict` into checkpoints; the weights themselves are saved with
`ScalarRewardModel.save_pretrained`). A standalone run is one `fit` (see `python -m reward_model.train`).

Defaults are chosen so one online fit on 64-512 records takes seconds to tens of seconds on a CPU with
MiniLM: 2 epochs, batch 32, frozen token embeddings, tokenisation once per fit, length-bucketed batches
with dynamic padding (whole groups per batch for bradley_terry). `min_steps` makes a fit on few records
repeat its epochs until it has taken that many optimizer steps.

Hard negatives (`fit(..., pairs=...)`: a correct response against a rewrite of it into a wrong answer, made in
`orchestration.hard_negatives`) train pairwise beside the pointwise loss: every step's loss is the configured
loss on its batch of records plus `hard_negative_weight` times `losses.pair_loss` on its share of the pairs (the
pairs are spread evenly over each epoch's steps, in one forward with the records).

After the fit its own data is scored once more (`train_metrics`): `train_loss` (the configured loss, eval mode)
beside `constant_loss` (what the best constant score gets: bce's label entropy), `train_ranking_accuracy` and
`train_accuracy` (score > 0 agrees with outcome >= 0.5), and `train_pair_accuracy` on the hard negatives: a fit
whose train loss stays at the constant's has learned nothing, whatever its held-out figures say.
Under `accelerate launch`, every process holds the same records and takes its own share of each step's
batches; gradients are averaged by DDP.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from reward_model.data import (
    OutcomeRecord,
    PreferencePair,
    StepRecord,
    group_batches,
    group_members,
    split_by_group,
)
from reward_model.losses import LOSSES, compute_loss, constant_loss, pair_loss
from reward_model.metrics import labelled_steps, ranking_accuracy, step_ranking_accuracy
from reward_model.model import ScalarRewardModel


@dataclass
class RMTrainConfig:
    loss: Literal["mse", "bce", "bradley_terry"] = field(
        default="bce",
        metadata={
            "help": "bce (pointwise P(correct) logit; default: uses every record and keeps scores on one scale "
            "across prompts) | mse (regress 2*outcome-1) | bradley_terry (pairs within a group)"
        },
    )
    lr_encoder: float = field(default=5e-5, metadata={"help": "AdamW learning rate of the encoder"})
    lr_head: float = field(default=1e-3, metadata={"help": "AdamW learning rate of the scalar head"})
    epochs: int = field(default=2, metadata={"help": "passes over the records of one fit"})
    max_steps: int | None = field(
        default=None, metadata={"help": "optimizer steps per fit; overrides epochs (and min_steps) when set"}
    )
    min_steps: int = field(
        default=0,
        metadata={
            "help": "at least this many optimizer steps per fit: epochs repeat until they are taken (a fit on few "
            "records otherwise takes a handful of steps and learns nothing); 0 = epochs alone"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "records per optimizer step (per process)"})
    warmup_ratio: float = field(
        default=0.1,
        metadata={
            "help": "linear warm-up over this share of the first fit's steps, then constant (online fits "
            "continue at the full rate)"
        },
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases, LayerNorm)"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm; 0 = off"})
    margin: float = field(default=0.0, metadata={"help": "bradley_terry margin: -logsigmoid(r_b - r_w - margin)"})
    hard_negative_weight: float = field(
        default=1.0,
        metadata={
            "help": "weight of the pairwise loss on hard negatives (a correct response against a rewrite of it with a "
            "wrong answer) added to the pointwise loss; only used when a fit is given pairs"
        },
    )
    train_metrics: bool = field(
        default=True,
        metadata={
            "help": "after a fit, score its own records (and pairs) once more: train_loss, constant_loss, "
            "train_ranking_accuracy, train_accuracy, train_pair_accuracy"
        },
    )
    val_fraction: float = field(
        default=0.1,
        metadata={"help": "share of groups held out of the new records for validation ranking accuracy; 0 = none"},
    )
    early_stop_patience: int = field(
        default=2,
        metadata={"help": "stop after this many epochs without a better validation accuracy, keep the best; 0 = off"},
    )
    freeze_token_embeddings: bool = field(
        default=True,
        metadata={
            "help": "keep the token embedding table fixed (12M of MiniLM's 22M weights): much cheaper AdamW "
            "steps and less overfitting on small online batches"
        },
    )
    trainable_layers: int | None = field(
        default=None,
        metadata={
            "help": "train only the top N transformer layers of the backbone (and what follows them, e.g. a final "
            "norm) plus the head; null = every layer (token embeddings as freeze_token_embeddings says). "
            "Cuts the update cost of a large backbone such as the policy's own"
        },
    )
    eval_batch_size: int = field(
        default=64,
        metadata={"help": "batch size when scoring the validation split and, for train_metrics, the fit's own records"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the split, batch order and dropout"})
    progress_bar: bool = field(default=True, metadata={"help": "show a tqdm bar during a fit"})

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("lr_encoder", "lr_head", "batch_size", "eval_batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or null (use epochs), got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.trainable_layers is not None and self.trainable_layers < 0:
            raise ValueError(f"trainable_layers must be >= 0 or null (all), got {self.trainable_layers}")
        if self.loss == "bradley_terry" and self.batch_size < 2:
            raise ValueError("bradley_terry needs batch_size >= 2 to form pairs")
        for name in ("weight_decay", "max_grad_norm", "early_stop_patience", "min_steps", "hard_negative_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class RMTrainer:
    """Owns the optimizer and schedule of one reward model across any number of `fit` calls."""

    def __init__(self, model: ScalarRewardModel, cfg: RMTrainConfig, accelerator=None):
        from accelerate import Accelerator

        self.model, self.cfg = model, cfg
        self.accelerator = accelerator or Accelerator()
        self.global_step, self.fits, self.warmup_steps = 0, 0, None
        if cfg.freeze_token_embeddings:
            model.encoder.get_input_embeddings().weight.requires_grad_(False)
        if cfg.trainable_layers is not None:
            if model.lora is not None:
                raise ValueError(
                    "trainable_layers and lora both choose what trains in the backbone (lora: only its "
                    "adapters); set one of them"
                )
            freeze_lower_layers(model.encoder, cfg.trainable_layers)
        optimizer = torch.optim.AdamW(_param_groups(model, cfg), betas=(0.9, 0.999))
        # The schedule wraps the raw optimizer, not accelerate's (which would step it once per process).
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        self.train_model, self.optimizer = self.accelerator.prepare(model, optimizer)

    def _lr_factor(self, step: int) -> float:
        warmup = self.warmup_steps or 0
        return min(1.0, (step + 1) / warmup) if warmup else 1.0

    # ------------------------------------------------------------------ one fit

    def fit(
        self,
        records: list[OutcomeRecord],
        replay: list[OutcomeRecord] | None = None,
        pairs: list[PreferencePair] | None = None,
    ) -> dict[str, float]:
        """Train on `records` (a validation share of whose groups is held out) plus `replay` (train only), and
        on `pairs` (hard negatives, train only: `better` correct, `worse` a wrong rewrite of it) pairwise.

        Returns loss, val_ranking_accuracy_before/after, val_pairs, n_examples, n_replay, hard_negatives, steps,
        epochs, early_stopped, seconds, examples_per_second and (`train_metrics`) the fit's own figures.
        """
        cfg, start = self.cfg, time.perf_counter()
        pairs = list(pairs or [])
        self._check_references(records, replay, pairs)
        train_records, val_records = split_by_group(records, cfg.val_fraction, seed=cfg.seed + self.fits)
        train_records = train_records + list(replay or [])
        if cfg.loss == "bradley_terry":  # groups with one outcome give no pair: skip their forward passes
            train_records = _mixed_groups(train_records)
        metrics = {
            "n_examples": float(len(train_records)),
            "n_replay": float(len(replay or [])),
            "hard_negatives": float(len(pairs)),
        }
        val_before, val_pairs = self._validate(val_records)
        metrics.update(val_ranking_accuracy_before=val_before, val_pairs=float(val_pairs))
        if not train_records:
            metrics.update(steps=0.0, seconds=time.perf_counter() - start, val_ranking_accuracy_after=val_before)
            return metrics
        with torch.random.fork_rng(devices=_cuda_devices(self.model)):  # seeded dropout, global RNG untouched
            torch.manual_seed(cfg.seed + 1000 * self.fits)
            metrics.update(self._epochs(train_records, val_records, pairs))
        self.fits += 1
        self.model.trained_with = cfg.loss  # recorded in the saved config: evaluate reports ECE for bce
        if cfg.train_metrics:
            metrics.update(self._train_figures(train_records, pairs))
        seconds = time.perf_counter() - start
        metrics.update(seconds=seconds, examples_per_second=metrics["examples_seen"] / seconds)
        return metrics

    def _check_references(self, records, replay, pairs) -> None:
        """A reference-aware RM cannot train on a record without its gold answer: say which, and why."""
        if not getattr(self.model, "reference", False):
            return
        for name, rows in (("record", records), ("replay record", replay or []), ("hard-negative pair", pairs)):
            missing = [r for r in rows if not r.reference]
            if missing:
                raise ValueError(
                    f"the reward model is reference-aware (rm.reference / --reference: it reads the gold answer "
                    f"beside each response) but {len(missing)} of {len(rows)} {name}s have no reference, the first "
                    f"for prompt {missing[0].prompt[:80]!r}: give every row its 'reference' (the loop's buffer "
                    "writes it; a buffer written before that column cannot train a reference-aware RM) or use a "
                    "reference-free RM"
                )

    def _epochs(
        self, records: list[OutcomeRecord], val_records: list[OutcomeRecord], pairs: list[PreferencePair] | None = None
    ) -> dict[str, float]:
        cfg, acc = self.cfg, self.accelerator
        rng = random.Random(f"{cfg.seed}:{self.fits}")
        encoded, groups, lengths, total = self._plan(records)
        pair_encoded = self._encode_pairs(pairs or [])
        keeper = _BestEpoch(cfg.early_stop_patience)
        losses, seen, step, epoch, val = [], 0, 0, 0, math.nan
        bar = tqdm(
            total=total,
            desc="RM fit",
            leave=False,
            dynamic_ncols=True,
            disable=not (cfg.progress_bar and acc.is_main_process),
        )
        if cfg.max_steps is None:
            more = lambda: epoch < cfg.epochs or step < cfg.min_steps  # noqa: E731
        else:
            more = lambda: step < cfg.max_steps  # noqa: E731
        while more() and not keeper.stopped:
            epoch += 1
            batches = group_batches(groups, lengths, cfg.batch_size, rng)
            batches += batches[: (-len(batches)) % acc.num_processes]  # every process steps equally often
            pair_chunks = _spread(len(pair_encoded), len(batches), rng)
            for i in range(0, len(batches), acc.num_processes):
                batch = batches[i + acc.process_index]
                chunk = [pair_encoded[j] for j in pair_chunks[i + acc.process_index]]
                losses.append(self._step(batch, encoded, records, chunk))
                seen, step = seen + len(batch) * acc.num_processes, step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
                if cfg.max_steps is None and epoch > cfg.epochs and step >= cfg.min_steps:
                    break  # the epochs are done and min_steps is reached: the repeat epoch need not finish
            val, _ = self._validate(val_records)
            keeper.update(val, self)
        bar.close()
        mean_loss = torch.tensor(sum(losses) / len(losses), device=self.model.device)
        if acc.num_processes > 1:  # each process saw its own batches
            mean_loss = acc.reduce(mean_loss, reduction="mean")
        return {
            "loss": mean_loss.item(),
            "loss_last": losses[-1],
            "steps": float(step),
            "epochs": float(epoch),
            "early_stopped": float(keeper.stopped),
            "examples_seen": float(seen),
            "val_ranking_accuracy_after": keeper.restore_best(val, self),
            "lr_encoder": self.scheduler.get_last_lr()[0],
        }

    def _plan(self, records: list[OutcomeRecord]):
        """Tokenise once per fit; batching units; the expected step count (sizes warm-up and the bar)."""
        cfg = self.cfg
        encoded = self._encode(records)
        lengths = [len(e[0]) for e in encoded]
        # Only the pairwise loss needs whole groups in a batch; pointwise losses batch records purely by
        # length, which pads far less (a group mixes short answers with long cut-off rambling).
        if cfg.loss == "bradley_terry":
            groups = list(group_members(records).values())
        else:
            groups = [[i] for i in range(len(records))]
        n_batches = len(group_batches(groups, lengths, cfg.batch_size, random.Random(0)))  # varies a little
        total = cfg.max_steps or max(cfg.min_steps, math.ceil(n_batches / self.accelerator.num_processes) * cfg.epochs)
        if self.warmup_steps is None:  # sized on the first fit; its first step must already be warming up
            self.warmup_steps = math.ceil(cfg.warmup_ratio * total)
            for group, base_lr in zip(self.scheduler.optimizer.param_groups, self.scheduler.base_lrs):
                group["lr"] = base_lr * self._lr_factor(self.global_step)
        return encoded, groups, lengths, total

    def _encode(self, records: list[OutcomeRecord]) -> list:
        """Each record's tokens (a sequence whose first element is its input ids)."""
        return self.model.encode(
            [r.prompt for r in records], [r.response for r in records], [r.reference for r in records]
        )

    def _encode_pairs(self, pairs: list[PreferencePair]) -> list[tuple]:
        """Each pair's (better, worse) tokens."""
        if not pairs:
            return []
        better = self.model.encode([p.prompt for p in pairs], [p.better for p in pairs], [p.reference for p in pairs])
        worse = self.model.encode([p.prompt for p in pairs], [p.worse for p in pairs], [p.reference for p in pairs])
        return list(zip(better, worse))

    def _batch_loss(
        self, batch: list[int], encoded, records: list[OutcomeRecord], pair_chunk: list[tuple] | None = None
    ) -> torch.Tensor:
        """The configured loss on the batch's records, plus `hard_negative_weight` times the pairwise loss on
        `pair_chunk` (encoded (better, worse) pairs), the records and both sides of the pairs in one forward."""
        pair_chunk = pair_chunk or []
        pieces = [encoded[i] for i in batch] + [b for b, _ in pair_chunk] + [w for _, w in pair_chunk]
        device = self.model.device
        outcomes = torch.tensor([records[i].outcome for i in batch], device=device)
        keys = {key: n for n, key in enumerate(dict.fromkeys(records[i].group_key for i in batch))}
        group_ids = torch.tensor([keys[records[i].group_key] for i in batch], device=device)
        scores = self.train_model(**self.model.collate(pieces)).float()
        n, p = len(batch), len(pair_chunk)
        loss = compute_loss(self.cfg.loss, scores[:n], outcomes, group_ids, self.cfg.margin)[0]
        if p:
            loss = loss + self.cfg.hard_negative_weight * pair_loss(scores[n : n + p], scores[n + p :])[0]
        return loss

    def _step(
        self, batch: list[int], encoded, records: list[OutcomeRecord], pair_chunk: list[tuple] | None = None
    ) -> float:
        self.train_model.train()
        loss = self._batch_loss(batch, encoded, records, pair_chunk)
        self.accelerator.backward(loss)
        if self.cfg.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.train_model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        return loss.item()

    def _validate(self, records: list[OutcomeRecord]) -> tuple[float, int]:
        if not records:
            return float("nan"), 0
        return ranking_accuracy(self._score(records), [r.outcome for r in records], [r.group_key for r in records])

    def _score(self, records: list[OutcomeRecord]) -> torch.Tensor:
        extra = {"references": [r.reference for r in records]} if self.model.reference else {}
        return self.model.score(
            [r.prompt for r in records], [r.response for r in records], batch_size=self.cfg.eval_batch_size, **extra
        )

    def _train_figures(self, records: list[OutcomeRecord], pairs: list[PreferencePair]) -> dict[str, float]:
        """The fit's own data scored once more, in eval mode (module docstring)."""
        scores = self._score(records)
        outcomes = torch.tensor([r.outcome for r in records])
        keys = {key: n for n, key in enumerate(dict.fromkeys(r.group_key for r in records))}
        group_ids = torch.tensor([keys[r.group_key] for r in records])
        figures = {
            "train_loss": compute_loss(self.cfg.loss, scores, outcomes, group_ids, self.cfg.margin)[0].item(),
            "constant_loss": constant_loss(self.cfg.loss, outcomes),
            "train_ranking_accuracy": ranking_accuracy(scores, outcomes, [r.group_key for r in records])[0],
            "train_accuracy": ((scores > 0) == (outcomes >= 0.5)).float().mean().item(),
        }
        if pairs:
            better = self._score([OutcomeRecord(p.prompt, p.better, 1.0, reference=p.reference) for p in pairs])
            worse = self._score([OutcomeRecord(p.prompt, p.worse, 0.0, reference=p.reference) for p in pairs])
            figures["train_pair_accuracy"] = pair_loss(better, worse)[1]["pair_accuracy"]
        return figures

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict:
        """Optimizer, schedule and counters (the weights go through `ScalarRewardModel.save_pretrained`)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "global_step": self.global_step,
            "fits": self.fits,
            "warmup_steps": self.warmup_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.global_step, self.fits, self.warmup_steps = state["global_step"], state["fits"], state["warmup_steps"]


class StepRMTrainer(RMTrainer):
    """`RMTrainer` for a `StepRewardModel` on `StepRecord`s: BCE on every labelled step (soft labels allowed;
    unlabelled steps and steps cut away by the length limit carry no loss), validation by step-level ranking
    accuracy within groups (`reward_model.metrics.step_ranking_accuracy`)."""

    def __init__(self, model, cfg: RMTrainConfig, accelerator=None):
        if getattr(model, "level", None) != "step":
            raise ValueError(f"StepRMTrainer trains a StepRewardModel, got a {type(model).__name__}")
        if cfg.loss != "bce":
            raise ValueError(f"a step reward model trains with loss=bce (a logit per step), got {cfg.loss!r}")
        super().__init__(model, cfg, accelerator)

    def fit(self, records: list[StepRecord], replay: list[StepRecord] | None = None) -> dict[str, float]:
        """As `RMTrainer.fit`; records without a labelled step are left out (they carry no loss)."""
        return super().fit([r for r in records if r.has_label], [r for r in replay or [] if r.has_label])

    def _encode(self, records: list[StepRecord]) -> list:
        return [
            (e.input_ids, e)
            for e in self.model.encode_steps(
                [r.prompt for r in records],
                [r.response for r in records],
                [list(r.spans) for r in records],
                [r.reference for r in records],
            )
        ]

    def _batch_loss(self, batch: list[int], encoded, records: list[StepRecord], pair_chunk=None) -> torch.Tensor:
        encodings = [encoded[i][1] for i in batch]
        labels = [v for i, e in zip(batch, encodings) for v in records[i].labels[e.first_kept :]]
        scores = self.train_model(**self.model.collate_steps(encodings)).float()
        known = torch.tensor([v is not None for v in labels], dtype=torch.bool, device=scores.device)
        targets = torch.tensor([0.0 if v is None else v for v in labels], device=scores.device)
        if not known.any():  # every process still runs a backward (DDP)
            return scores.sum() * 0.0
        return torch.nn.functional.binary_cross_entropy_with_logits(scores[known], targets[known])

    def _validate(self, records: list[StepRecord]) -> tuple[float, int]:
        if not records:
            return float("nan"), 0
        return step_ranking_accuracy(
            self._step_scores(records), [r.labels for r in records], [r.group_key for r in records]
        )

    def _step_scores(self, records: list[StepRecord]) -> list[torch.Tensor]:
        return self.model.score_steps(
            [r.prompt for r in records],
            [r.response for r in records],
            [list(r.spans) for r in records],
            batch_size=self.cfg.eval_batch_size,
            references=[r.reference for r in records],
        )

    def _train_figures(self, records: list[StepRecord], pairs) -> dict[str, float]:
        """The step-level figures of the fit's own labelled steps (BCE, its constant, ranking, accuracy)."""
        scores, labels, groups = labelled_steps(
            self._step_scores(records), [r.labels for r in records], [r.group_key for r in records]
        )
        if not scores:
            return {}
        s, y = torch.tensor(scores), torch.tensor(labels)
        return {
            "train_loss": torch.nn.functional.binary_cross_entropy_with_logits(s, y).item(),
            "constant_loss": constant_loss("bce", y),
            "train_ranking_accuracy": ranking_accuracy(s, y, groups)[0],
            "train_accuracy": ((s > 0) == (y >= 0.5)).float().mean().item(),
        }


class _BestEpoch:
    """Early stopping on validation ranking accuracy, remembering the best epoch's whole training state.

    Weights, optimizer moments, schedule and step counter go back together: weights rolled back under the
    moments of later epochs would make the next online fit start from a state no epoch ever had."""

    def __init__(self, patience: int):
        self.patience, self.best, self.state, self.stale, self.stopped = patience, math.nan, None, 0, False

    def update(self, val: float, trainer: "RMTrainer") -> None:
        if not self.patience or math.isnan(val):
            return
        if math.isnan(self.best) or val > self.best:
            self.best, self.stale = val, 0
            self.state = copy.deepcopy({"model": trainer.model.state_dict(), **trainer.state_dict()})
        else:
            self.stale += 1
            self.stopped = self.stale >= self.patience

    def restore_best(self, last_val: float, trainer: "RMTrainer") -> float:
        """Go back to the best epoch if the last one was worse; returns the validation accuracy kept."""
        if self.state is not None and not math.isnan(last_val) and last_val < self.best:
            trainer.model.load_state_dict(self.state.pop("model"))
            fits = trainer.fits  # the fit in progress is counted by `fit`, after this
            trainer.load_state_dict(self.state)
            trainer.fits = fits
            return self.best
        return last_val


def train(
    model: ScalarRewardModel,
    records: list[OutcomeRecord],
    cfg: RMTrainConfig | None = None,
    replay: list[OutcomeRecord] | None = None,
    accelerator=None,
) -> dict[str, float]:
    """One standalone fit of `model` on `records` (+ `replay`); returns the fit's metrics."""
    cfg = cfg or RMTrainConfig()
    return RMTrainer(model, cfg, accelerator=accelerator).fit(records, replay=replay)


def transformer_layers(backbone) -> torch.nn.ModuleList:
    """The backbone's stack of transformer blocks (BERT `encoder.layer`, Llama `layers`, GPT-2 `h`)."""
    for path in ("layers", "encoder.layer", "h", "transformer.layer"):
        module = backbone
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, torch.nn.ModuleList):
            return module
    raise ValueError(
        f"trainable_layers: cannot find the transformer layers of a {type(backbone).__name__}; "
        "leave rm.train.trainable_layers null"
    )


def freeze_lower_layers(backbone, n: int) -> None:
    """Only the top `n` transformer layers and the modules after the stack (a final norm) keep training; the
    embeddings and the lower layers are frozen."""
    layers = transformer_layers(backbone)
    if n > len(layers):
        raise ValueError(f"trainable_layers={n} but the backbone has {len(layers)} layers")
    in_stack = {id(p) for p in layers.parameters()}
    embeddings = {id(p) for name, p in backbone.named_parameters() if "embed" in name.split(".")[0]}
    for p in backbone.parameters():
        if id(p) in in_stack or id(p) in embeddings:
            p.requires_grad_(False)
    for layer in layers[len(layers) - n :]:
        layer.requires_grad_(True)


def _param_groups(model: ScalarRewardModel, cfg: RMTrainConfig) -> list[dict]:
    """Encoder and head at their own rates; no weight decay on biases and LayerNorm weights."""
    groups = []
    for name, module, lr in (("encoder", model.encoder, cfg.lr_encoder), ("head", model.head, cfg.lr_head)):
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups += [
            {"params": decay, "lr": lr, "weight_decay": cfg.weight_decay, "name": name},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{name}_no_decay"},
        ]
    return groups


def _spread(n_items: int, n_chunks: int, rng: random.Random) -> list[list[int]]:
    """0..n_items-1 shuffled and cut into n_chunks near-equal chunks (some empty when n_items < n_chunks)."""
    order = list(range(n_items))
    rng.shuffle(order)
    return [order[n_items * c // n_chunks : n_items * (c + 1) // n_chunks] for c in range(n_chunks)]


def _mixed_groups(records: list[OutcomeRecord]) -> list[OutcomeRecord]:
    mixed = {key for key, idx in group_members(records).items() if len({records[i].outcome for i in idx}) > 1}
    return [r for r in records if r.group_key in mixed]


def _cuda_devices(model: ScalarRewardModel) -> list[int]:
    device = model.device
    return [device.index or 0] if device.type == "cuda" else []
