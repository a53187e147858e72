"""Our rule verifiers as TRL reward functions, for users who train with `trl.GRPOTrainer`:

    from trl import GRPOTrainer
    from verifiers.trl import code_reward, math_reward
    trainer = GRPOTrainer(model=..., reward_funcs=[math_reward], train_dataset=dataset_with_an_answer_column)

TRL calls a reward function with keyword arguments: `prompts`, `completions` (strings, or for a
conversational dataset lists of messages ending with the assistant's), and every other column of the dataset
(`answer`, `tests`, `entry_point`, ...), one value per completion; it wants one float per completion. These
return the verifier's score in [0, 1] (math: 1 right, 0 wrong; code: the fraction of tests passed) and, like
the verifiers, never raise on model output. Nothing here imports TRL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers import code as code_verifier
from verifiers import math as math_verifier


def completion_text(completion: str | Sequence[dict[str, Any]]) -> str:
    """A completion as TRL passes it, as text: the string itself, or the content of its last message."""
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    content = completion[-1].get("content", "")
    if isinstance(content, list):  # multimodal-style content parts: keep the text ones
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def math_reward(
    prompts: Sequence,
    completions: Sequence,
    answer: Sequence,
    *,
    timeout: float = 5.0,
    fallback_last_number: bool = True,
    **kwargs,
) -> list[float]:
    """1.0 where the completion's final answer equals `answer` (sympy-checked, `verifiers.math.check`), else 0.0."""
    _same_length(completions, answer=answer)
    outcomes = math_verifier.check_batch(
        [completion_text(c) for c in completions],
        [str(a) for a in answer],
        timeout=timeout,
        fallback_last_number=fallback_last_number,
    )
    return [o.score for o in outcomes]


def code_reward(
    prompts: Sequence,
    completions: Sequence,
    tests: Sequence,
    entry_point: Sequence | None = None,
    code_prompt: Sequence | None = None,
    *,
    timeout: float = 10.0,
    **kwargs,
) -> list[float]:
    """The fraction of `tests` (asserts, or HumanEval `check(candidate)` with `entry_point`) the completion's
    program passes in the sandbox (`verifiers.code.check`). A `code_prompt` column (HumanEval's signature and
    docstring, as code) lets a body-only completion be joined to it, as in the online loop."""
    _same_length(completions, tests=tests, entry_point=entry_point, code_prompt=code_prompt)
    entry_points = list(entry_point) if entry_point is not None else [None] * len(completions)
    code_prompts = list(code_prompt) if code_prompt is not None else [None] * len(completions)
    programs = [
        code_verifier.extract_code(completion_text(c), p, entry_point=e)
        for c, p, e in zip(completions, code_prompts, entry_points)
    ]
    outcomes = code_verifier.check_batch(programs, list(tests), entry_points, timeout=timeout)
    return [o.score for o in outcomes]


def _same_length(completions: Sequence, **columns: Sequence | None) -> None:
    for name, values in columns.items():
        if values is not None and len(values) != len(completions):
            raise ValueError(
                f"{len(completions)} completions but {len(values)} values in column {name!r}: "
                "TRL passes one value per completion"
            )
