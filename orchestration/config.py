"""The run config: one dataclass per component, nested; YAML file plus `--section.key value` overrides.

Sampling, GRPO and RM-training configs are owned by their packages and only composed here, so each
setting is defined once. Cross-component invariants are checked in `TrainConfig.__post_init__`, before
any model loads, with messages that say what to change.

    python orchestration/train_loop.py --help      # every key with its default and help
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
import warnings
from dataclasses import dataclass, field
from typing import Literal

from orchestration.dataclass_yaml import ConfigError, apply_overrides, from_dict, load_yaml
from orchestration.phrasings import PHRASINGS
from orchestration.reward_terms import RewardPlan, RewardTermConfig, implied_source, shorthand_terms
from policy.grpo import ADVANTAGE_SCALES, PROCESS_CREDITS
from policy.lora import LoraConfig
from policy.sampling import SamplingConfig
from policy.update import GRPOConfig
from reward_model.model import RMLoraSettings
from reward_model.train import RMTrainConfig

POLICY_DTYPES = ("float32", "bfloat16", "float16")
LOW_PRECISION_WEIGHTS = (
    "policy.dtype is a 16-bit float with full fine-tuning: AdamW then updates 16-bit weights, and a step of lr "
    "~1e-5 is below half their rounding step (98% of SmolLM2-135M's bfloat16 weights do not move under it; a study "
    "run so barely left its reference policy). Use policy.dtype: float32 (the default), or LoRA (policy.lora), "
    "whose adapters stay float32."
)


@dataclass
class PolicyConfig:
    name_or_path: str | None = field(
        default=None, metadata={"help": "causal LM: HF name or local path; null = the embedded SmolLM2-135M-Instruct"}
    )
    dtype: str | None = field(
        default=None,
        metadata={
            "help": "float32 | bfloat16 | float16; null = float32 on every device. Full fine-tuning in bfloat16 "
            "or float16 rounds most AdamW steps of lr ~1e-5 away (a warning says so); with LoRA the adapters "
            "stay float32"
        },
    )
    use_chat_template: bool = field(
        default=True, metadata={"help": "wrap plain-text prompts as a user message in the tokenizer's chat template"}
    )
    lora: LoraConfig | None = field(
        default=None,
        metadata={
            "help": "train LoRA adapters through peft instead of every weight, e.g. {r: 16} (policy/lora.py); the KL "
            "reference is the same model with its adapters disabled; null = full fine-tuning"
        },
    )

    def __post_init__(self) -> None:
        if self.dtype is not None and self.dtype not in POLICY_DTYPES:
            raise ValueError(f"policy.dtype must be one of {POLICY_DTYPES} or null, got {self.dtype!r}")
        if self.dtype in ("bfloat16", "float16") and self.lora is None:
            warnings.warn(LOW_PRECISION_WEIGHTS, UserWarning, stacklevel=2)


@dataclass
class LoopGRPOConfig(GRPOConfig):
    """`policy.update.GRPOConfig` as the loop uses it: what follows from the rest of the run config is derived
    (`TrainConfig.__post_init__` fills it in, and the resolved config.yaml says what was used), and the two
    settings the loop reads itself, not the updater, live here."""

    temperature: float | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "temperature the log-probs are computed at; null = sampling.temperature (set, it must equal it)",
        },
    )
    total_steps: int | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "optimizer steps a linear or cosine decay spans; null = loop.max_steps x the optimizer steps of "
            "one policy step (num_iterations x mini-batches of a full batch)",
        },
    )
    seed: int | None = field(
        default=None, metadata={"derived": True, "help": "seed of the mini-batch shuffling; null = loop.seed"}
    )
    scale: str = field(
        default="group",
        metadata={
            "help": "advantage scaling (policy.grpo.group_advantages): group (the paper: (r - mean) / std within each "
            "group), batch (std over the whole batch) or none (r - mean, Dr. GRPO)"
        },
    )
    process_credit: str = field(
        default="sum",
        metadata={
            "help": "process supervision: a token's credit from the normalised rewards of the steps ending at or after "
            "it: sum (DeepSeekMath §4.1.3), min (their minimum) or delta (the sum after each step reward became "
            "its change from the previous step, so it telescopes); or rtg: the step's return-to-go minus the group's "
            "mean at that step index, so identical completions get 0; policy.grpo.process_advantages"
        },
    )

    def __post_init__(self) -> None:
        if self.scale not in ADVANTAGE_SCALES:
            raise ValueError(f"scale must be one of {ADVANTAGE_SCALES}, got {self.scale!r}")
        if self.process_credit not in PROCESS_CREDITS:
            raise ValueError(f"process_credit must be one of {PROCESS_CREDITS}, got {self.process_credit!r}")
        if None not in (self.temperature, self.total_steps, self.seed):
            super().__post_init__()  # resolved (or all given): the updater's own checks

    def resolve(self, *, temperature: float, max_steps: int, rollouts: int, seed: int) -> None:
        """Fill in the derived settings from the run config, then check the whole as the updater would."""
        if self.temperature is None:
            self.temperature = temperature
        if self.total_steps is None:
            mini_batches = rollouts // self.mini_batch_size if self.mini_batch_size else 1
            self.total_steps = max_steps * self.num_iterations * mini_batches
        if self.seed is None:
            self.seed = seed
        super().__post_init__()


# Settings of a standalone RM fit that do nothing in the loop, and what the loop fixes them to: its own bar shows
# progress, and a validation split would keep its outcomes out of RM training for good (the held-out monitor,
# rm/heldout_*, already scores every batch before the RM trains on it), so there is no early stopping either.
LOOP_FIXED_RM_TRAIN = {"val_fraction": 0.0, "early_stop_patience": 0, "progress_bar": False}


def _trainer_config(self) -> RMTrainConfig:
    """The `reward_model.train.RMTrainConfig` this section stands for."""
    values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    return RMTrainConfig(**values, **LOOP_FIXED_RM_TRAIN)


def _check_rm_train(self) -> None:
    if self.seed is not None:
        self.trainer_config()  # RMTrainConfig's own checks; seed is resolved later, by TrainConfig
    else:
        dataclasses.replace(self, seed=0).trainer_config()


def _loop_rm_train_fields() -> list[tuple]:
    hints = typing.get_type_hints(RMTrainConfig)
    fields = []
    for f in dataclasses.fields(RMTrainConfig):
        if f.name in LOOP_FIXED_RM_TRAIN:
            continue
        if f.name == "seed":
            fields.append(
                (
                    "seed",
                    int | None,
                    field(
                        default=None,
                        metadata={
                            "derived": True,
                            "help": "seed of the RM fits' batch order and dropout; null = loop.seed",
                        },
                    ),
                )
            )
        else:
            fields.append(
                (
                    f.name,
                    hints[f.name],
                    field(default=f.default, default_factory=f.default_factory, metadata=f.metadata),
                )
            )
    return fields


# `rm.train`: RMTrainConfig's fields (same defaults and help, so each is defined once) less the ones the loop fixes.
LoopRMTrainConfig = dataclasses.make_dataclass(
    "LoopRMTrainConfig",
    _loop_rm_train_fields(),
    namespace={
        "trainer_config": _trainer_config,
        "__post_init__": _check_rm_train,
        "__module__": __name__,
        "__doc__": "reward_model.train.RMTrainConfig as the loop uses it: without the settings the loop "
        "fixes (LOOP_FIXED_RM_TRAIN); `trainer_config()` gives the RMTrainConfig.",
    },
)


@dataclass
class RewardModelConfig:
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "a standalone-trained RM directory to start from, e.g. a warm start's DIR/rm (python -m "
            "orchestration.bootstrap); the frozen control starts from it too; null = fresh encoder, verifier "
            "rewards until the first RM update"
        },
    )
    reference: bool = field(
        default=False,
        metadata={
            "help": "reference-aware RM: it reads each prompt's gold answer beside the completion ('Reference answer: "
            "GOLD' before the prompt; reward_model/model.py), so it can compare instead of guessing; every "
            "prompt then needs a gold answer (no data.unlabelled, no code). Must match an rm.init_from RM's own "
            "setting"
        },
    )
    hard_negatives: int = field(
        default=0,
        metadata={
            "help": "per verified-correct completion in an RM update, up to N rewrites of its final answer into a "
            "plausible wrong one (off by one, digits swapped, another operation's result, sign; each confirmed "
            "wrong by the rule: orchestration/hard_negatives.py), trained pairwise against it beside the "
            "pointwise loss (rm.train.hard_negative_weight); 0 = off"
        },
    )
    encoder: str | None = field(
        default=None,
        metadata={
            "help": "backbone of a fresh RM: a BERT-style encoder or a causal LM, HF name or path; null = the embedded "
            "all-MiniLM-L6-v2; policy = the policy's starting checkpoint (policy.name_or_path), as DeepSeekMath "
            "initialised its RM from the base LM"
        },
    )
    pooling: Literal["cls", "mean", "last"] | None = field(
        default=None,
        metadata={
            "help": "how the head pools the backbone; null = cls for an encoder, last (the last real token) for a "
            "causal LM"
        },
    )
    max_length: int = field(default=256, metadata={"help": "RM input tokens; the prompt is cut first"})
    lora: RMLoraSettings | None = field(
        default=None,
        metadata={
            "help": "a fresh RM trains LoRA adapters in its backbone (and its head) instead of the backbone's weights, "
            "e.g. {r: 16}; the adapters' learning rate is rm.train.lr_encoder; null = the whole backbone trains"
        },
    )
    update_every: int = field(default=2, metadata={"help": "re-train the RM every N policy steps"})
    replay_fraction: float = field(
        default=0.1, metadata={"help": "fraction of older buffer rows replayed in each RM update (DeepSeekMath: 10%)"}
    )
    replay_max_rows: int | None = field(default=None, metadata={"help": "cap on replayed rows per update"})
    score_batch_size: int = field(default=64, metadata={"help": "RM scoring batch size"})
    train: LoopRMTrainConfig = field(default_factory=LoopRMTrainConfig)

    def __post_init__(self):
        if self.update_every < 1:
            raise ValueError(f"update_every must be >= 1 policy step, got {self.update_every}")
        if self.lora is not None and self.init_from:
            raise ValueError(
                f"rm.lora sets up a fresh RM, but rm.init_from={self.init_from!r} loads a saved one with "
                "its own settings (its reward_model.json); set rm.lora to null"
            )
        if self.lora is not None and self.train.trainable_layers is not None:
            raise ValueError(
                "rm.lora and rm.train.trainable_layers both choose what trains in the RM's backbone "
                "(rm.lora: only its adapters); set one of them to null"
            )
        if not 0.0 <= self.replay_fraction <= 1.0:
            raise ValueError(f"replay_fraction must be in [0, 1], got {self.replay_fraction}")
        if self.hard_negatives < 0:
            raise ValueError(
                f"rm.hard_negatives must be >= 0 rewrites per correct completion, got {self.hard_negatives}"
            )


@dataclass
class DataConfig:
    source: Literal["arithmetic", "multistep", "math", "code", "humaneval"] = field(
        default="arithmetic",
        metadata={
            "help": "arithmetic (built-in generator) | multistep (built-in problems solved one step per line, for "
            "process supervision) | math (JSONL/datasets) | code (JSONL/datasets) | humaneval"
        },
    )
    levels: list[int] = field(
        default_factory=lambda: [1],
        metadata={
            "help": "built-in difficulty levels: arithmetic 1-6 (orchestration/arithmetic.py), multistep 1-4 "
            "(orchestration/multistep.py)"
        },
    )
    curriculum: bool = field(
        default=False,
        metadata={
            "help": "arithmetic: start on the first of `levels`, draw from the levels whose recent group accuracy is "
            "in curriculum_band, open the next level as one saturates (orchestration/curriculum.py)"
        },
    )
    curriculum_band: list[float] = field(
        default_factory=lambda: [0.2, 0.8],
        metadata={"help": "curriculum: [low, high] recent group accuracy a level is drawn at (PRIME's filter)"},
    )
    curriculum_window: int = field(
        default=16, metadata={"help": "curriculum: a level's recent accuracy is the mean over its last N groups"}
    )
    phrasings: list[str] | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "arithmetic: how problems are worded, taken in turn for training and held-out items alike: bare "
            "('What is 3 + 5?'), worded ('Add 3 and 5.'), word (a word problem); held-out accuracy is also "
            "reported per phrasing (orchestration/phrasings.py); null = all three for arithmetic",
        },
    )
    worked_example: bool | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "built-in tasks (arithmetic, multistep): each prompt is a chat that opens with one worked example "
            "of its level answered in the asked format (\\boxed{}; multistep: one calculation per line), then "
            "asks the problem; null = true for them (on the held-out set it lifts SmolLM2-135M's \\boxed{} use "
            "from 1% to 79% sampled, accuracy from 0.26 to 0.55: docs/loop.md)",
        },
    )
    path: str | None = field(default=None, metadata={"help": "data file / datasets dir / hub name for math, code"})
    format: str = field(default="auto", metadata={"help": "math data: auto | gsm8k | math | plain"})
    columns: dict = field(default_factory=dict, metadata={"help": "column mapping, e.g. {prompt: question}"})
    unlabelled: bool = field(
        default=False,
        metadata={
            "help": "math data: rows without an answer are prompts rewarded by the RM (loop.unlabelled_reward; never "
            "verified, never train the RM, never evaluated); off: such a row is an error. arithmetic with "
            "labelled_problems: the rows outside the labelled draws come without their answer"
        },
    )
    labelled_problems: int | None = field(
        default=None,
        metadata={
            "help": "arithmetic: scarce labels (orchestration/scarce_labels.py): only this many training problems "
            "(the same for every seed) are drawn with their answer, for labelled_share of the rows; the other "
            "rows are the plain stream, without their answer when data.unlabelled; null = every row labelled"
        },
    )
    labelled_share: float | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "arithmetic with labelled_problems: the share of training rows drawn from the labelled "
            "problems; null = 0.25 (one prompt in four)",
        },
    )
    eval_path: str | None = field(
        default=None,
        metadata={"help": "held-out data for math/code; null = hold out a hash-chosen eval_fraction of `path`"},
    )
    eval_fraction: float = field(
        default=0.3,
        metadata={"help": "held-out share of the problems (arithmetic, or `path` without eval_path), chosen by a hash"},
    )
    eval_size: int = field(
        default=48,
        metadata={"help": "held-out prompts per evaluation (arithmetic: the phrasings share them about equally)"},
    )
    eval_samples: int = field(default=4, metadata={"help": "temperature samples per held-out prompt"})

    def __post_init__(self):
        if self.worked_example is not None and self.source not in ("arithmetic", "multistep"):
            raise ValueError(
                f"data.worked_example opens the built-in tasks' prompts with a worked example; "
                f"data.source={self.source} has its own prompts: leave worked_example null"
            )
        if self.source in ("arithmetic", "multistep") and self.worked_example is None:
            self.worked_example = True
        if self.phrasings is not None and self.source != "arithmetic":
            raise ValueError(
                f"data.phrasings words the built-in arithmetic problems; data.source={self.source} has "
                "its own prompts: leave phrasings null"
            )
        if self.source == "arithmetic":
            self.phrasings = list(PHRASINGS) if self.phrasings is None else list(self.phrasings)
            unknown = [p for p in self.phrasings if p not in PHRASINGS]
            if not self.phrasings or unknown:
                raise ValueError(f"phrasings must be a non-empty list of {list(PHRASINGS)}, got {self.phrasings}")
        if self.curriculum and self.source != "arithmetic":
            raise ValueError(
                f"data.curriculum orders the built-in arithmetic levels; data.source={self.source} has none"
            )
        if self.curriculum and len(self.curriculum_band) != 2:
            raise ValueError(f"curriculum_band must be [low, high], got {self.curriculum_band}")
        if self.labelled_problems is not None:
            if self.source != "arithmetic" or self.curriculum:
                raise ValueError(
                    "data.labelled_problems draws scarce labels from the built-in arithmetic problems: it needs "
                    f"data.source=arithmetic without data.curriculum (got source={self.source}, "
                    f"curriculum={self.curriculum})"
                )
            if self.labelled_problems < 1:
                raise ValueError(f"data.labelled_problems must be >= 1, got {self.labelled_problems}")
            self.labelled_share = 0.25 if self.labelled_share is None else self.labelled_share
            if not 0.0 < self.labelled_share <= 1.0:
                raise ValueError(f"data.labelled_share must be in (0, 1], got {self.labelled_share}")
        elif self.labelled_share is not None:
            raise ValueError("data.labelled_share is the share of labelled draws: set data.labelled_problems too")
        if self.unlabelled and self.source not in ("math", "arithmetic"):
            raise ValueError(
                f"data.unlabelled: data.source={self.source} has no rows without an answer (math data files, "
                "arithmetic with data.labelled_problems)"
            )
        if self.unlabelled and self.source == "arithmetic" and self.labelled_problems is None:
            raise ValueError(
                "data.unlabelled with data.source=arithmetic withholds the answers of the rows outside "
                "data.labelled_problems: set data.labelled_problems (e.g. 32)"
            )
        if self.source in ("math", "code") and not self.path:
            raise ValueError(f"data.source={self.source} needs data.path (a JSONL file or datasets directory)")


# The format term's weight in the default reward (measured: README, "Keeping the asked format").
DEFAULT_FORMAT_WEIGHT = 0.1


@dataclass
class LoopConfig:
    max_steps: int = field(default=24, metadata={"help": "policy steps"})
    prompts_per_step: int = field(default=4, metadata={"help": "B: prompts per step (per process)"})
    group_size: int = field(default=8, metadata={"help": "k: completions per prompt (the GRPO group)"})
    reward_source: Literal["rm", "frozen_rm", "verifier", "mix"] | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "mix (mix_weight * rm + (1 - mix_weight) * verifier, both in [0, 1]) | rm (the paper: the online "
            "RM alone) | frozen_rm (the control: the RM's first version, never updated) | verifier (rule only); "
            "null = what the rest asks for: what reward_terms amount to (the two must agree), verifier for "
            "online_rft, rft and process supervision, else mix",
        },
    )
    format_weight: float | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "weight of the format term (1 when the answer is in the \\boxed{} the prompt asks for) added to "
            "the reward_source shorthand; null = 0.1 for grpo with outcome supervision and no reward_terms "
            "(README: keeps the asked format), else 0. With reward_terms, list {name: format} there instead",
        },
    )
    reward_terms: list[RewardTermConfig] = field(
        default_factory=list,
        metadata={
            "help": "the reward as a weighted sum of terms, e.g. [{name: verifier}, {name: format, weight: 0.1}]: "
            "verifier | rm | frozen_rm | format | length | repetition | a dotted path to a TRL-style "
            "function (orchestration/reward_terms.py); empty = the reward_source shorthand"
        },
    )
    algorithm: Literal["grpo", "online_rft", "rft"] = field(
        default="grpo",
        metadata={
            "help": "grpo | online_rft (current-policy samples, coefficient 1 on verified-correct, 0 else) | rft "
            "(the same on samples from the initial policy); the last two need reward_source=verifier"
        },
    )
    drop_uniform_groups: bool = field(
        default=False,
        metadata={
            "help": "groups whose rewards are all equal (no signal) leave the loss: no seq_mean share, no KL pull"
        },
    )
    refill_rounds: int = field(
        default=0,
        metadata={
            "help": "with drop_uniform_groups: sample up to N more rounds of prompts_per_step prompts until the batch "
            "holds prompts_per_step groups whose rewards differ (DAPO's dynamic sampling); every round's "
            "outcomes are stored and train the RM"
        },
    )
    supervision: Literal["outcome", "process"] = field(
        default="outcome",
        metadata={
            "help": "outcome (one reward per completion) | process (DeepSeekMath §4.1.3: one reward per reasoning "
            "step, advantages per token from policy.grpo.process_advantages; the RM is then the step-level "
            "StepRewardModel, trained online from the rule checker's step labels, verifiers.math.check_steps). "
            "Step rewards: reward_source=verifier the rule labels, rm the live step RM, frozen_rm its first "
            "version; math data"
        },
    )
    step_labels: Literal["rule", "mc_hard", "mc_soft"] = field(
        default="rule",
        metadata={
            "help": "supervision=process: where step labels come from. rule: verifiers.math.check_steps | mc_hard / "
            "mc_soft: Monte-Carlo rollouts (Math-Shepherd; orchestration/mc_labels.py): mc_rollouts "
            "continuations of the policy from each step, hard = any reaches a verified answer, soft = the "
            "share that does; for tasks whose steps no rule can check"
        },
    )
    path_labels: bool = field(
        default=False,
        metadata={
            "help": "supervision=process, step_labels=rule: a true step that arrives at none of the values an honest "
            "solution computes (tasks that list them: multistep's meta path) is labelled 0, like a repeat: "
            "`10 * 2 = 20` is true but not progress on (6 + 4) * 9 (verifiers.steps.mark_off_path); off = "
            "true arithmetic is paid wherever it leads"
        },
    )
    outcome_share: float = field(
        default=0.0,
        metadata={
            "help": "supervision=process: each token's advantage is (1 - outcome_share) * its process advantage + "
            "outcome_share * the completion's outcome advantage (the verifier's reward, normalised in its group "
            "as for outcome supervision); 0 = pure process supervision, 1 = outcome supervision"
        },
    )
    max_rewarded_steps: int | None = field(
        default=None,
        metadata={
            "help": "supervision=process: at most this many steps of a completion keep a positive reward, the last "
            "(answer) step included; later ones get none, so length in true steps is not paid; null = the "
            "task's own bound (multistep: its operations + 1), none for tasks without one"
        },
    )
    mc_rollouts: int = field(default=4, metadata={"help": "step_labels=mc_*: continuations per step (m)"})
    mc_share: float = field(
        default=0.25,
        metadata={
            "help": "step_labels=mc_*: share of each step's completions labelled (each costs mc_rollouts * (steps - 1) "
            "continuations); the rest get only their last step's label, the verified outcome"
        },
    )
    mix_weight: float = field(default=0.5, metadata={"help": "weight of the RM score when reward_source=mix"})
    unlabelled_reward: Literal["rm", "frozen_rm", "none"] | None = field(
        default=None,
        metadata={
            "derived": True,
            "help": "with data.unlabelled: what the verifier term reads on a prompt without a gold answer: rm (the "
            "online RM), frozen_rm (its first version, never updated: no RM then trains past it) or none (0: "
            "such prompts teach nothing, the verifier on the labelled rows alone); null = frozen_rm when the "
            "reward's RM term is frozen_rm, else rm",
        },
    )
    reset_reference_on_rm_update: bool = field(
        default=False,
        metadata={"help": "iterative RL: reset the KL reference to the current policy after each RM update"},
    )
    verifier_timeout: float = field(default=5.0, metadata={"help": "seconds per verification"})
    max_verifier_error_fraction: float = field(
        default=0.5,
        metadata={
            "help": "stop the run (checkpointed) when more than this share of a step's outcomes are verifier errors"
        },
    )
    math_last_number_fallback: bool = field(
        default=True,
        metadata={
            "help": "math: judge a response with no explicit final answer by the last number it commits to "
            "(on: small policies often answer '3 + 4 = 7.' without a box)"
        },
    )
    initial_eval: bool = field(
        default=True,
        metadata={"help": "evaluate the policy on the held-out problems before training (logged as eval/initial_*)"},
    )
    eval_every: int = field(default=8, metadata={"help": "held-out evaluation every E steps (and first, last)"})
    checkpoint_every: int = field(default=8, metadata={"help": "checkpoint every C steps (and at the end)"})
    keep_checkpoints: int = field(default=1, metadata={"help": "keep the last K checkpoints"})
    final_optimizer_state: bool = field(
        default=False,
        metadata={
            "help": "keep the policy optimizer's moments (2 x the policy's size) in a finished run's last checkpoint, "
            "so that raising max_steps continues exactly; false: they are dropped and an extended run restarts "
            "them (it says so). Checkpoints before the end always keep them (exact resume)"
        },
    )
    log_samples_every: int = field(default=5, metadata={"help": "write sampled completions every M steps"})
    hacking_window: int = field(default=10, metadata={"help": "steps over which the reward-hacking alarm looks"})
    seed: int = field(
        default=0,
        metadata={
            "help": "seed of everything a run draws: data order, sampling, the RM's "
            "new head, and (unless set) grpo.seed and rm.train.seed"
        },
    )

    @property
    def terms(self) -> list[RewardTermConfig]:
        """The reward's terms: `reward_terms`, or the list `reward_source` stands for plus the format term."""
        if self.reward_terms:
            return self.reward_terms
        fmt = [RewardTermConfig("format", self.format_weight)] if self.format_weight else []
        return shorthand_terms(self.reward_source, self.mix_weight) + fmt

    @property
    def source(self) -> str:
        """`reward_source` as resolved: which RM (if any) rewards, and whether the verifier does."""
        return self.reward_source

    def _resolve_reward(self):
        """Unset reward keys become what the rest of the config needs; written so in the resolved config.yaml."""
        rewards_completions = self.algorithm == "grpo" and self.supervision == "outcome"
        if self.reward_source is None:
            if self.reward_terms:
                self.reward_source = implied_source(self.reward_terms)
            else:
                self.reward_source = "mix" if rewards_completions else "verifier"
        if self.format_weight is None:
            self.format_weight = DEFAULT_FORMAT_WEIGHT if rewards_completions and not self.reward_terms else 0.0
        elif self.format_weight and self.reward_terms:
            raise ValueError(
                f"format_weight={self.format_weight} adds the format term to the reward_source "
                "shorthand; with reward_terms, list {name: format, weight: ...} among them instead"
            )
        elif self.format_weight and not rewards_completions:
            raise ValueError(
                f"format_weight={self.format_weight}: algorithm={self.algorithm} with "
                f"supervision={self.supervision} takes no reward terms; set format_weight 0"
            )
        if not math.isfinite(self.format_weight):
            raise ValueError(f"format_weight must be finite, got {self.format_weight}")

    def _check_reward(self):
        """`reward_source` and `reward_terms` describe one reward: refuse a clash, never pick one silently."""
        if not self.reward_terms:
            return
        names = [term.name for term in self.reward_terms]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"reward_terms names {repeated} more than once: give each term once, with its weight")
        implied = implied_source(self.reward_terms)
        if (
            self.reward_source not in (None, implied)
            and shorthand_terms(self.reward_source, self.mix_weight) != self.reward_terms
        ):
            raise ValueError(
                f"reward_source={self.reward_source} disagrees with reward_terms {names}, which amount to "
                f"reward_source={implied}: drop reward_source (the terms decide) or make the terms match it"
            )

    def __post_init__(self):
        if self.group_size < 2:
            raise ValueError(
                f"group_size must be >= 2 (advantages compare completions of one prompt), got {self.group_size}"
            )
        for name in (
            "max_steps",
            "prompts_per_step",
            "eval_every",
            "checkpoint_every",
            "keep_checkpoints",
            "log_samples_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.mix_weight <= 1.0:
            raise ValueError(f"mix_weight must be in [0, 1], got {self.mix_weight}")
        self._check_reward()
        self._resolve_reward()
        if self.algorithm != "grpo" and self.source != "verifier":
            raise ValueError(
                f"algorithm={self.algorithm} learns from verified-correct completions only: set "
                f"reward_source=verifier (got {self.source})"
            )
        if self.algorithm != "grpo" and [term.name for term in self.reward_terms] not in ([], ["verifier"]):
            raise ValueError(
                f"algorithm={self.algorithm} weighs completions by the verifier's verdict alone: "
                "reward_terms would be ignored; leave them empty"
            )
        if self.supervision == "process" and (
            self.algorithm != "grpo" or self.reward_terms or self.source not in ("verifier", "rm", "frozen_rm")
        ):
            raise ValueError(
                "supervision=process rewards each step with the rule checker's label (reward_source="
                "verifier) or the step RM's score (rm, frozen_rm): it needs algorithm=grpo, one of those "
                f"sources and no reward_terms (got {self.algorithm}, {self.source}, "
                f"{[t.name for t in self.reward_terms]})"
            )
        if self.step_labels != "rule" and self.supervision != "process":
            raise ValueError(
                f"step_labels={self.step_labels} labels steps for supervision=process; set it, or leave "
                "step_labels=rule"
            )
        if not 0.0 <= self.outcome_share <= 1.0:
            raise ValueError(
                f"outcome_share must be in [0, 1] (0 = pure process supervision), got {self.outcome_share}"
            )
        if self.path_labels and (self.supervision != "process" or self.step_labels != "rule"):
            raise ValueError(
                "path_labels marks rule step labels off the solution's path: it needs supervision=process and "
                f"step_labels=rule (got {self.supervision}, {self.step_labels})"
            )
        if self.outcome_share and self.supervision != "process":
            raise ValueError(
                f"outcome_share={self.outcome_share} mixes the outcome advantage into process "
                "supervision's: set loop.supervision=process, or outcome_share 0"
            )
        if self.max_rewarded_steps is not None and (self.max_rewarded_steps < 1 or self.supervision != "process"):
            raise ValueError(
                f"max_rewarded_steps={self.max_rewarded_steps} bounds the rewarded steps of process "
                "supervision: it needs loop.supervision=process and a value >= 1 (null = the task's own)"
            )
        if self.mc_rollouts < 1 or not 0.0 < self.mc_share <= 1.0:
            raise ValueError(
                f"mc_rollouts must be >= 1 and mc_share in (0, 1], got {self.mc_rollouts}, {self.mc_share}"
            )
        if self.supervision == "process" and self.drop_uniform_groups:
            raise ValueError(
                "drop_uniform_groups judges groups by their outcome rewards: use it with supervision=outcome"
            )
        if self.refill_rounds < 0:
            raise ValueError(f"refill_rounds must be >= 0, got {self.refill_rounds}")
        if self.refill_rounds and not self.drop_uniform_groups:
            raise ValueError(
                "refill_rounds refills the groups drop_uniform_groups drops: set "
                "loop.drop_uniform_groups true, or refill_rounds 0"
            )
        if self.drop_uniform_groups and self.algorithm != "grpo":
            raise ValueError(
                f"drop_uniform_groups needs algorithm=grpo: for {self.algorithm} a group of correct "
                "completions is a signal (coefficient 1), however uniform its rewards"
            )
        if self.algorithm == "rft" and self.reset_reference_on_rm_update:
            raise ValueError(
                "algorithm=rft samples from the initial policy, which is the KL reference: "
                "reset_reference_on_rm_update must be false"
            )
        if not 0.0 <= self.max_verifier_error_fraction <= 1.0:
            raise ValueError(f"max_verifier_error_fraction must be in [0, 1], got {self.max_verifier_error_fraction}")


TRACKER_PACKAGES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "comet_ml": "comet_ml",
    "aim": "aim",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "trackio": "trackio",
}


@dataclass
class LoggingConfig:
    report_to: list[str] = field(
        default_factory=list,
        metadata={
            "help": "also log through accelerate's trackers, e.g. [tensorboard, wandb] (files under the run directory; "
            "WANDB_MODE=offline needs no network); metrics.jsonl is always written"
        },
    )
    progress_bar: bool = field(default=True, metadata={"help": "show a tqdm progress bar"})

    def __post_init__(self):
        unknown = [name for name in self.report_to if name not in TRACKER_PACKAGES]
        if unknown:
            raise ValueError(f"report_to: unknown tracker(s) {unknown}; accelerate knows {sorted(TRACKER_PACKAGES)}")


@dataclass
class TrainConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    # CPU defaults chosen by measurement (benchmarks/bench_base_policy.py; README "Why these defaults")
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_new_tokens=64, temperature=0.7))
    grpo: LoopGRPOConfig = field(default_factory=lambda: LoopGRPOConfig(lr=1e-5))
    rm: RewardModelConfig = field(default_factory=RewardModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def _resolve_unlabelled_reward(self) -> None:
        """`loop.unlabelled_reward` follows the reward's RM term; it must agree with one, and means nothing without
        prompts that lack an answer."""
        loop = self.loop
        if not self.data.unlabelled:
            if loop.unlabelled_reward is not None:
                raise ValueError(
                    f"loop.unlabelled_reward={loop.unlabelled_reward} rewards prompts without a gold answer: "
                    "there are none without data.unlabelled; leave it unset"
                )
            return
        rm_term = next((t.name for t in loop.terms if t.name in ("rm", "frozen_rm") and t.weight), None)
        if loop.unlabelled_reward is None:
            loop.unlabelled_reward = rm_term or "rm"
        elif rm_term and loop.unlabelled_reward != rm_term:
            raise ValueError(
                f"loop.unlabelled_reward={loop.unlabelled_reward}, but the reward's {rm_term} term already scores "
                f"every prompt, those without an answer too: set loop.unlabelled_reward {rm_term} (or leave it "
                "unset), or reward with the verifier alone"
            )

    @functools.cached_property
    def plan(self) -> RewardPlan:
        """The reward, resolved once (`reward_terms.RewardPlan`): what the loop reads instead of the shorthand."""
        loop = self.loop
        return RewardPlan.build(
            loop.terms, loop.algorithm, loop.supervision, loop.source, self.data.unlabelled, loop.unlabelled_reward
        )

    def __post_init__(self):
        rollouts = self.loop.prompts_per_step * self.loop.group_size
        if self.grpo.mini_batch_size and rollouts % self.grpo.mini_batch_size:
            raise ValueError(
                f"loop.prompts_per_step * loop.group_size = {rollouts} completions per step must be divisible "
                f"by grpo.mini_batch_size = {self.grpo.mini_batch_size}; change one of them (0 = whole batch)"
            )
        if self.sampling.temperature <= 0:
            raise ValueError(
                "sampling.temperature must be > 0 for training (GRPO needs diverse groups); "
                "greedy decoding is used for evaluation only"
            )
        if self.grpo.temperature not in (None, self.sampling.temperature):
            raise ValueError(
                f"grpo.temperature ({self.grpo.temperature}) must equal sampling.temperature "
                f"({self.sampling.temperature}): log-probs must be taken at the temperature the completions were "
                "sampled at; leave grpo.temperature unset (it follows sampling.temperature)"
            )
        try:
            self.grpo.resolve(
                temperature=self.sampling.temperature,
                max_steps=self.loop.max_steps,
                rollouts=rollouts,
                seed=self.loop.seed,
            )
        except ValueError as e:
            raise ValueError(f"grpo: {e}") from e
        if self.rm.train.seed is None:
            self.rm.train.seed = self.loop.seed
        if self.policy.lora is not None and self.policy.lora.dropout > 0 and self.grpo.disable_dropout:
            raise ValueError(
                f"policy.lora.dropout={self.policy.lora.dropout} would be set to 0 by "
                "grpo.disable_dropout=true (which keeps ratio = 1 on-policy): set policy.lora.dropout 0, "
                "or grpo.disable_dropout false"
            )
        self._resolve_unlabelled_reward()
        if self.grpo.process_credit != "sum" and self.loop.supervision != "process":
            raise ValueError(
                f"grpo.process_credit={self.grpo.process_credit} assigns step rewards to tokens under "
                "loop.supervision=process; with outcome supervision every token gets its completion's "
                "advantage: set loop.supervision=process, or leave process_credit=sum"
            )
        if self.loop.supervision == "process" and self.rm.train.loss != "bce":
            raise ValueError(
                f"loop.supervision=process trains a step-level RM with rm.train.loss=bce (a logit per "
                f"step), got {self.rm.train.loss}"
            )


def load_config(path: str | None, overrides: list[str]) -> TrainConfig:
    """Defaults <- YAML file <- command-line overrides; every error names its key."""
    data = load_yaml(path) if path else {}
    data = apply_overrides(data, overrides)
    return from_dict(TrainConfig, data)


__all__ = ["ConfigError", "LoopGRPOConfig", "LoopRMTrainConfig", "TrainConfig", "load_config"]
