"""The built-in study's arms and where their runs live: shared by `orchestration.study` (which runs them) and
`orchestration.study_report` (which reads them), so neither imports the other.

Each arm is (what it is, its `train_loop.py` overrides); `DEFAULTS` is the study's setting, which every arm's
overrides and the command line's own override in turn.
"""

from __future__ import annotations

import os

# The multi-step task as the process-supervision arms run it (configs/process_supervision.yaml): level 1, the
# worked example shown once in the prompt (the default for multistep), one calculation per line in 128 new tokens,
# temperature 0.7: the base policy solves 31% of samples with 48% of groups mixed (docs/process_supervision.md).
MULTISTEP = [
    "--data.source",
    "multistep",
    "--data.levels",
    "[1]",
    "--sampling.max_new_tokens",
    "128",
    "--sampling.temperature",
    "0.7",
]
PS = ["--loop.supervision", "process", *MULTISTEP]
# Scarce labels (#21 §2, orchestration/scarce_labels.py): 32 level-2 training problems carry their answer and are
# drawn for one prompt in four; the other three are the plain stream. The arms share that stream and one warm-started
# RM per seed (WARM_STARTS), and differ in what rewards the rows whose answer is withheld.
SCARCE = ["--data.labelled_problems", "32", "--loop.reward_source", "verifier"]
WITHHELD = [*SCARCE, "--data.unlabelled", "true"]
AWARE = ["--rm.reference", "true", "--rm.hard_negatives", "1"]  # the RM that judged unseen problems at 0.97
FREE_HN = ["--rm.hard_negatives", "1"]  # reference-free, taught that a rewritten answer is wrong
AWARE_NO_HN = ["--rm.reference", "true"]  # reference-aware, outcomes only


# warm start -> (its `orchestration.bootstrap` arguments, its config overrides after DEFAULTS; `--seed` is the run's):
# sampled from the base policy on training prompts with an answer only, before any run of the arms that start from it.
WARM_STARTS: dict[str, tuple[list[str], list[str]]] = {
    "scarce": (["--prompts", "64"], WITHHELD),
    "free": (["--prompts", "256"], []),
    "aware": (["--prompts", "256"], AWARE),
    "free_hn": (["--prompts", "256"], FREE_HN),
    "aware_no_hn": (["--prompts", "256"], AWARE_NO_HN),
}
# From a warm start (#21 §2, long horizon): pair -> (its RM in words, its warm start). Each pair is two arms,
# `frozen_rm_PAIR` (never updated, the control) and `rm_PAIR` (re-trained online), reading the RM as its warm start
# fitted it; the first two are the long horizon's, the last two the other corners of its grid (reference-free /
# -aware x with / without hard negatives).
WARM_PAIRS: dict[str, tuple[str, str]] = {
    "warm": ("reference-free RM", "free"),
    "aware": ("reference-aware RM with hard negatives", "aware"),
    "warm_hn": ("reference-free RM with hard negatives", "free_hn"),
    "aware_no_hn": ("reference-aware RM without hard negatives", "aware_no_hn"),
}


def _warm_pair_arms() -> dict[str, tuple[str, list[str]]]:
    """Every pair of WARM_PAIRS as its two arms, which differ in nothing but whether the RM is re-trained."""
    arms = {}
    for name, (rm, warm) in WARM_PAIRS.items():
        overrides = WARM_STARTS[warm][1]
        arms[f"frozen_rm_{name}"] = (
            f"GRPO on a warm-started {rm} alone, never updated",
            ["--loop.reward_source", "frozen_rm", *overrides],
        )
        arms[f"rm_{name}"] = (
            f"GRPO on the same warm-started {rm} alone, re-trained online (the paper's schedule)",
            ["--loop.reward_source", "rm", *overrides],
        )
    return arms


# arm -> (what it is, its overrides)
ARMS: dict[str, tuple[str, list[str]]] = {
    "verifier": ("GRPO on the rule verifier's reward alone", ["--loop.reward_source", "verifier"]),
    "rm": (
        "GRPO on the online RM alone: re-trained every rm.update_every steps with 10% replay (the paper)",
        ["--loop.reward_source", "rm"],
    ),
    "frozen_rm": (
        "GRPO on the RM's first version, never updated (the control for the online RM)",
        ["--loop.reward_source", "frozen_rm"],
    ),
    "mix": (
        "GRPO on 0.5 * online RM + 0.5 * verifier, both in [0, 1] (+ 0.1 * format, as every GRPO arm with "
        "outcome supervision)",
        ["--loop.reward_source", "mix"],
    ),
    "no_format": (
        "the mix arm without the format term (loop.format_weight 0): nothing rewards the asked \\boxed{}",
        ["--loop.reward_source", "mix", "--loop.format_weight", "0"],
    ),
    "online_rft": (
        "Online RFT: current-policy samples, coefficient 1 on verified-correct, 0 else",
        ["--loop.algorithm", "online_rft", "--loop.reward_source", "verifier"],
    ),
    "rft": (
        "RFT: the same on samples from the initial policy",
        ["--loop.algorithm", "rft", "--loop.reward_source", "verifier"],
    ),
    # The curriculum pair: levels 1 and 2 (held out on both, reported per level), verifier rewards.
    "curriculum": (
        "GRPO (verifier) over levels 1-2 with the adaptive curriculum: level 1 first, level 2 once level 1 saturates",
        ["--loop.reward_source", "verifier", "--data.levels", "[1, 2]", "--data.curriculum", "true"],
    ),
    "mixed_levels": (
        "GRPO (verifier) over levels 1-2 drawn in turn (the curriculum's control)",
        ["--loop.reward_source", "verifier", "--data.levels", "[1, 2]"],
    ),
    # The online RM on a stronger backbone: the policy's own base model (DeepSeekMath's choice), top 4 layers trained.
    "rm_lm": (
        "GRPO on the online RM built on the policy's own base model (SmolLM2-135M, top 4 of 30 layers "
        "trained) instead of MiniLM",
        ["--loop.reward_source", "rm", "--rm.encoder", "policy", "--rm.train.trainable_layers", "4"],
    ),
    # LoRA beside full fine-tuning: the default reward (the `mix` arm) with configs/lora.yaml's adapters and lr.
    "lora": (
        "GRPO on 0.5 * online RM + 0.5 * verifier (the `mix` arm) training LoRA adapters (r 16, alpha 32, "
        "attention projections, lr 1e-4: configs/lora.yaml) instead of every weight",
        ["--loop.reward_source", "mix", "--policy.lora", "{r: 16, alpha: 32}", "--grpo.lr", "1e-4"],
    ),
    # GRPO+PS against GRPO+OS (DeepSeekMath §4.1.3) on the multi-step task, both rewarded by rules: level 1, the
    # only level where the base policy ever reaches a verified answer (benchmarks/bench_base_policy.py, README).
    "os": (
        "GRPO+OS on the multi-step task (level 1): one rule-verified reward per completion (no format term, "
        "as the PS arms have none)",
        ["--loop.reward_source", "verifier", "--loop.format_weight", "0", *MULTISTEP],
    ),
    "ps": (
        "GRPO+PS on the multi-step task (level 1): each step rewarded by the rule checker's label "
        "(verifiers.math.check_steps; repeats earn nothing, the paid steps are bounded), a token credited with "
        "the sum of the later steps' normalised rewards (§4.1.3)",
        ["--loop.reward_source", "verifier", *PS],
    ),
    "ps_min": (
        "ps with min-form credit: a token is worth the worst step it leads to",
        ["--loop.reward_source", "verifier", "--grpo.process_credit", "min", *PS],
    ),
    "ps_delta": (
        "ps with step-to-step changes as rewards: the credit telescopes to the last step's reward",
        ["--loop.reward_source", "verifier", "--grpo.process_credit", "delta", *PS],
    ),
    "ps_rtg": (
        "ps with return-to-go credit: each step's remaining reward minus the group's mean at that step index, so "
        "identical completions get 0 (the §4.1.3 pooling pays for ending before a low-reward step)",
        ["--loop.reward_source", "verifier", "--grpo.process_credit", "rtg", *PS],
    ),
    "ps_path": (
        "ps with path labels: a true step that computes none of the solution's values is labelled 0 like a repeat "
        "(`10 * 2 = 20` on (6 + 4) * 9: the ps_rtg runs paid such steps)",
        ["--loop.reward_source", "verifier", "--loop.path_labels", "true", *PS],
    ),
    "ps_rtg_path": (
        "ps_rtg with path labels: return-to-go credit on labels that pay only the solution's own steps",
        ["--loop.reward_source", "verifier", "--grpo.process_credit", "rtg", "--loop.path_labels", "true", *PS],
    ),
    "ps_outcome10": (
        "ps with a 10% share of the verified outcome's advantage mixed into every token's",
        ["--loop.reward_source", "verifier", "--loop.outcome_share", "0.1", *PS],
    ),
    "ps_rm": (
        "GRPO+PS rewarded by the online step RM's scores (the same protections)",
        ["--loop.reward_source", "rm", *PS],
    ),
    "ps_frozen_rm": (
        "GRPO+PS rewarded by the step RM's first version, never updated: the control for ps_rm",
        ["--loop.reward_source", "frozen_rm", *PS],
    ),
    # From a warm start (#21 §2, long horizon): the RM's first version is fitted before the run on 2048 outcomes of the
    # base policy (orchestration.bootstrap), so frozen and online start from the same, stronger RM. Run them longer
    # than the default 16 steps (--loop.max_steps 64) to see whether a frozen RM is hacked where an online one is not.
    **_warm_pair_arms(),
    "format_length": (
        "GRPO on surface cues alone: 1 for the asked \\boxed{} plus a brevity term falling linearly from 0 at "
        "no token to -1 at the study's 64 (the length term with buffer 64): what an RM that learned only "
        "format and brevity would teach",
        ["--loop.reward_terms", "[{name: format, weight: 1.0}, {name: length, buffer: 64}]"],
    ),
    "scarce_verifier": (
        "scarce labels: the verifier on the 32 labelled problems' rows; the rows without an answer get 0 and teach "
        "nothing",
        [*WITHHELD, "--loop.unlabelled_reward", "none"],
    ),
    "scarce_frozen_rm": (
        "scarce labels: the verifier on the labelled rows, the warm-started RM (never updated) on the rows without "
        "an answer",
        [*WITHHELD, "--loop.unlabelled_reward", "frozen_rm"],
    ),
    "scarce_rm": (
        "scarce labels: the verifier on the labelled rows, the online RM (warm-started, re-trained on the labelled "
        "rows' outcomes) on the rows without an answer",
        [*WITHHELD, "--loop.unlabelled_reward", "rm"],
    ),
    "scarce_oracle": (
        "scarce labels' stream with every answer kept: the verifier on every row (the ceiling)",
        SCARCE,
    ),
}
# online arm -> its control: the same RM's first version, never updated (the same warm start where there is one).
# The report sets each pair of a study side by side as paired per-seed differences: what re-training online bought.
CONTROLS = {
    "rm": "frozen_rm",
    "ps_rm": "ps_frozen_rm",
    **{f"rm_{name}": f"frozen_rm_{name}" for name in WARM_PAIRS},
    "scarce_rm": "scarce_frozen_rm",
}
ARM_WARM_START = {
    **{arm: "scarce" for arm in ("scarce_verifier", "scarce_frozen_rm", "scarce_rm", "scarce_oracle")},
    **{f"{kind}_{name}": warm for name, (_, warm) in WARM_PAIRS.items() for kind in ("frozen_rm", "rm")},
}
# The study's setting (measured, README "The study"): level 2 (two-digit + one-digit sums), where the base
# policy is far from both floor and ceiling; 128 held-out problems, greedy and one sample each, at the end.
DEFAULTS = [
    "--data.levels",
    "[2]",
    "--data.eval_size",
    "128",
    "--data.eval_samples",
    "1",
    "--loop.max_steps",
    "16",
    "--loop.eval_every",
    "1000",
    "--loop.checkpoint_every",
    "4",
    "--loop.keep_checkpoints",
    "1",
    "--logging.progress_bar",
    "false",
]


def data_overrides(arm: str) -> list[str]:
    """The arm's data and sampling overrides: arms that share them share the held-out set and how it is
    sampled, so the base policy's figures."""
    args = ARMS[arm][1] if arm in ARMS else []
    return [f"{key}={value}" for key, value in zip(args[::2], args[1::2]) if key.startswith(("--data.", "--sampling."))]


def run_dir(output_dir: str, arm: str, seed: int) -> str:
    return os.path.join(output_dir, "runs", f"{arm}-seed{seed}")


def warm_dir(output_dir: str, name: str, seed: int) -> str:
    return os.path.join(output_dir, "warm", f"{name}-seed{seed}")


def is_finished(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "study_run.json"))
