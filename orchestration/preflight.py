"""Start-up checks: before any model loads, every verifier the run will use must judge known cases right.

A verifier that cannot run (a sandbox that cannot start this interpreter, a sympy worker that dies) does not
crash the loop: it returns `correct=False` outcomes, and a run would train on all-zero rewards without a
word. So before the first model loads, each verifier kind that the task source uses checks a known-correct
and a known-wrong response through the very path the loop uses (`orchestration.rewards.verify`), and the
run stops with `VerifierUnavailable` saying what broke and what to do.
"""

from __future__ import annotations

import sys

from orchestration.rewards import verify
from orchestration.tasks import TaskItem, TaskSource

_PROMPT = "What is 2 + 3? Put your final answer in \\boxed{}."
_MATH = TaskItem(id="preflight-math", prompt=_PROMPT, verifier="math", gold="5")
_MATH_SYMPY = TaskItem(id="preflight-math-sympy", prompt="Simplify sqrt(8).", verifier="math", gold="2\\sqrt{2}")
_CODE = TaskItem(
    id="preflight-code",
    prompt="Write add(a, b).",
    verifier="code",
    entry_point="add",
    code_prompt='def add(a, b):\n    """Return a + b."""\n',
    tests="def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
)
# (item, response, expected verdict): a plain number, a comparison that needs the sympy worker, and code.
CASES = {
    "math": [
        (_MATH, "2 + 3 = 5, so the answer is \\boxed{5}.", True),
        (_MATH, "\\boxed{6}", False),
        (_MATH_SYMPY, "\\sqrt{8} = \\boxed{2 \\cdot \\sqrt{2}}", True),
        (_MATH_SYMPY, "\\boxed{\\sqrt{6}}", False),
    ],
    "code": [(_CODE, "```python\ndef add(a, b):\n    return a + b\n```", True), (_CODE, "    return a - b\n", False)],
}
_WHAT_TO_DO = {
    "math": "run `python -m pytest tests/verifiers/test_math_equivalence.py` to see what fails; the sympy "
    "worker is a child process of this interpreter, so check that sympy imports in it",
    "code": "run `python -m pytest tests/verifiers/test_sandbox.py` to see what fails; the sandbox runs the "
    "program with this interpreter in a child process (see 'What the code sandbox guarantees' in the "
    "README)",
}


class VerifierUnavailable(RuntimeError):
    """A verifier cannot be trusted now: the run must stop rather than train on its verdicts."""


def verifier_kinds(train_source: TaskSource, eval_items: list[TaskItem], probe: int = 64) -> set[str]:
    """The verifier kinds a run meets: those of the held-out items and of the first `probe` training items."""
    size = train_source.__len__()  # None for an endless source, which len() refuses
    n = probe if size is None else min(probe, size)
    kinds = {item.verifier for item in eval_items} | {train_source.item(i).verifier for i in range(n)}
    return kinds - {"none"}  # unlabelled prompts are never verified


def check_verifiers(kinds: set[str], *, timeout: float, fallback_last_number: bool = True) -> None:
    """Raise `VerifierUnavailable` unless every verifier in `kinds` judges its known cases right."""
    for kind in sorted(kinds):
        items, responses, expected = zip(*CASES[kind])
        outcomes = verify(list(items), list(responses), timeout=timeout, fallback_last_number=fallback_last_number)
        for response, want, outcome in zip(responses, expected, outcomes):
            if outcome.correct != want:
                raise VerifierUnavailable(_message(kind, response, want, outcome))


def _message(kind: str, response: str, want: bool, outcome) -> str:
    verdict = "a known-correct answer was judged wrong" if want else "a known-wrong answer was judged correct"
    lines = [
        f"the {kind} verifier failed its start-up check: {verdict}.",
        f"  response: {response!r}",
        f"  reason:   {outcome.reason}",
    ]
    stderr = (outcome.details or {}).get("stderr")
    if stderr:
        lines.append(f"  stderr:   {str(stderr)[-500:]}")
    lines.append(f"  interpreter: {sys.executable}")
    lines.append(f"What to do: {_WHAT_TO_DO[kind]}. No model was loaded and nothing was trained.")
    return "\n".join(lines)
