"""Code verifier: extract a program from a model response and run it against unit tests in the sandbox.

    from verifiers.code import check, check_batch, extract_code
    program = extract_code(response, prompt=humaneval_prompt)
    outcome = check(program, problem["test"], entry_point=problem["entry_point"], timeout=10.0)
    outcomes = check_batch(programs, tests, entry_points)  # parallel, input order

Each check runs `verifiers/_code_harness.py` in a fresh sandboxed interpreter (`verifiers.sandbox`): the
program, then every test unit (`verifiers._code_tests`), each unit's result reported on a private pipe and
stamped with a random nonce that only the harness holds. A check is `correct` only when the harness reports
"done" as the very last line, every unit passed, and the process exited 0 without timeout or signal; so
`sys.exit(0)`, `os._exit(0)`, killing the host, printing a guessed marker, patching builtins or the test
function, or returning an object that is equal to everything cannot pass. `score` is the fraction of test
units (asserts) that passed, partial results included. A sandbox that fails before any test ran (e.g. it
cannot start the interpreter) gives reason `sandbox_error: ...` with its stderr tail in `details["stderr"]`:
a broken machine, not a wrong program (`Outcome.is_error`).

Defences inside the interpreter (details in `verifiers/_code_harness.py`): tests use a private copy of the
builtins and freshly restored stdlib modules; values that program functions return to the tests must be plain
data (so an always-equal object fails with `untrusted_value`); an audit hook (PEP 578) denies frames, `gc`
walks, tracing, `ctypes`, building or unmarshalling code objects and /proc/*/mem; the program runs in a worker
thread while the main thread, the only one that runs Python signal handlers, stays parked with all signals
blocked.

Residual risk (honest limits): the program still shares an interpreter with the harness. An introspection
path we did not think of, or a memory-safety bug in CPython, could reach the nonce and forge a pass; the
sandbox (`verifiers.sandbox`) still contains such a program, only its reward is at stake, so watch the
held-out RM monitor and inspect high-reward samples. Costs to honest programs: a correct solution that
returns an instance of its own class (or a generator, a map, ...) fails with `untrusted_value`; `signal.signal`,
`sys._getframe` (ValueError), `inspect.stack`, `traceback` of frames and `ctypes` are unavailable.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from verifiers._code_tests import TestPlan, plan_tests
from verifiers.outcome import Outcome
from verifiers.sandbox import SandboxLimits, SandboxResult, run_python

_HARNESS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_code_harness.py")
_HARNESS_SOURCE: str | None = None
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```[ \t]*(python3?|py)?[ \t]*\n", re.IGNORECASE)
_PYTHON_TAGS = {"", "python", "py", "python3"}
_DETAIL_CHARS = 2000


def extract_code(response: str, prompt: str | None = None, *, entry_point: str | None = None) -> str:
    """The program in a model response: the last ```python / ```py / bare ``` block, else the whole text.

    With a HumanEval `prompt` (imports, helpers, signature and docstring): a completion that defines the
    entry point (by default the prompt's last `def`) is prefixed with everything the prompt has before that
    `def`; a body-only completion is appended to the prompt (indented if it was not).
    """
    code = _last_code_block(response)
    if prompt is None:
        return code
    entry_point = entry_point or _last_def_name(prompt)
    if entry_point and re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        header = re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", prompt, re.MULTILINE)
        return (prompt[: header.start()] if header else "") + code
    first = next((line for line in code.splitlines() if line.strip()), "")
    if first and not first[0].isspace():  # a body written flush left
        code = "\n".join("    " + line if line.strip() else line for line in code.splitlines()) + "\n"
    return prompt + ("" if prompt.endswith("\n") else "\n") + code


def _last_code_block(response: str) -> str:
    blocks = [body for tag, body in _FENCE.findall(response) if tag.lower() in _PYTHON_TAGS]
    if blocks:
        return blocks[-1].strip("\n").rstrip() + "\n"
    opened = list(_OPEN_FENCE.finditer(response))
    if opened and response.count("```") % 2 == 1:  # an unterminated block (the sample hit max tokens)
        return response[opened[-1].end() :].strip("\n").rstrip() + "\n"
    return response.strip("\n").rstrip() + "\n"


def _last_def_name(prompt: str) -> str | None:
    names = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", prompt, re.MULTILINE)
    return names[-1] if names else None


def validate_tests(tests: str | Sequence[str], entry_point: str | None = None) -> None:
    """Raise ValueError when `tests` cannot be run (they do not parse, or nothing in them can fail).

    For data loaders: a bad test row is a user error to report when the data is read, not mid-run."""
    plan_tests(tests, entry_point)


def check(
    program: str,
    tests: str | Sequence[str],
    *,
    entry_point: str | None = None,
    timeout: float = 10.0,
    limits: SandboxLimits | None = None,
) -> Outcome:
    """Run `program` against `tests` in the sandbox. Never raises because of the program; raises
    ValueError when the tests themselves do not parse (a data error)."""
    plan = plan_tests(tests, entry_point)
    if not isinstance(program, str):
        return Outcome(False, 0.0, f"no_program: expected a string, got {type(program).__name__}")
    limits = limits or SandboxLimits(wall_seconds=timeout, cpu_seconds=max(1, math.ceil(timeout)))
    nonce = secrets.token_hex(16)
    payload = {
        "nonce": nonce,
        "program": program,
        "units": list(plan.units),
        "entry_point": entry_point,
        "candidate_name": plan.candidate_name,
    }
    try:
        result = run_python(_harness_source(), limits=limits, payload=json.dumps(payload).encode())
    except OSError as e:  # the host could not start a sandbox (out of processes, memory): not the model's fault
        return Outcome(False, 0.0, f"sandbox_error: {e}", {"sandbox_error": True})
    return _verdict(plan, result, nonce)


def check_batch(
    programs: Sequence[str],
    tests: Sequence[str | Sequence[str]],
    entry_points: Sequence[str | None] | None = None,
    *,
    timeout: float = 10.0,
    max_workers: int | None = None,
    limits: SandboxLimits | None = None,
) -> list[Outcome]:
    """`check` over many programs in parallel (at most `max_workers`, default the CPU count); input order."""
    if len(programs) != len(tests) or (entry_points is not None and len(entry_points) != len(programs)):
        raise ValueError(
            f"check_batch: got {len(programs)} programs, {len(tests)} tests and "
            f"{'no' if entry_points is None else len(entry_points)} entry points; lengths must match"
        )
    entry_points = list(entry_points) if entry_points is not None else [None] * len(programs)
    if not programs:
        return []
    workers = max(1, min(len(programs), max_workers or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="code-verifier") as pool:
        futures = [
            pool.submit(check, p, t, entry_point=e, timeout=timeout, limits=limits)
            for p, t, e in zip(programs, tests, entry_points)
        ]
        return [f.result() for f in futures]


def _harness_source() -> str:
    global _HARNESS_SOURCE
    if _HARNESS_SOURCE is None:
        with open(_HARNESS_PATH, encoding="utf-8") as f:
            _HARNESS_SOURCE = f.read()
    return _HARNESS_SOURCE


def _read_events(channel: bytes, nonce: str) -> tuple[list[dict[str, Any]], bool]:
    """The nonce-stamped events, and whether the channel held only those (the program wrote nothing there)."""
    prefix, events, clean = nonce.encode() + b" ", [], True
    for line in channel.split(b"\n"):
        if not line:
            continue
        if not line.startswith(prefix):
            clean = False
            continue
        try:
            events.append(json.loads(line[len(prefix) :]))
        except ValueError:
            clean = False
    return events, clean and (not channel or channel.endswith(b"\n"))


def _verdict(plan: TestPlan, result: SandboxResult, nonce: str) -> Outcome:
    details = {
        "tests_passed": 0,
        "tests_total": plan.n_tests,
        "style": plan.style,
        "seconds": round(result.seconds, 3),
        "stdout": _clip(result.stdout),
        "stderr": _clip(result.stderr),
        "returncode": result.returncode,
        "network": result.isolation.get("network", "unknown"),
        "sandbox_uid": result.isolation.get("uid"),
    }
    if result.setup_error is not None:  # no test ran: this says nothing about the program, all about the host
        details.update(sandbox_error=True, stderr=_clip(result.stderr, tail=True))
        return Outcome(False, 0.0, f"sandbox_error: {result.setup_error}", details)
    events, clean = _read_events(result.channel, nonce)
    program = next((e for e in events if e.get("event") == "program"), None)
    units = {e["index"]: e for e in events if e.get("event") == "unit" and isinstance(e.get("index"), int)}
    done = bool(events) and events[-1].get("event") == "done" and clean
    passed = sum(1 for i, c in enumerate(plan.counted) if c and units.get(i, {}).get("ok") is True)
    all_ok = len(units) == len(plan.units) and all(u.get("ok") is True for u in units.values())
    exited_ok = result.returncode == 0 and not result.timed_out and not result.output_overflow
    correct = bool(done and exited_ok and program is not None and program.get("ok") is True and all_ok)
    reason = "passed" if correct else _failure_reason(plan, result, program, units, done, clean)
    details["tests_passed"] = passed
    score = 1.0 if correct else (passed / plan.n_tests if plan.n_tests else 0.0)
    return Outcome(correct=correct, score=min(score, 1.0), reason=reason, details=details)


def _failure_reason(plan, result, program, units, done, clean) -> str:
    if program is not None and not program.get("ok"):
        error = str(program.get("error"))
        kind = (
            "syntax_error"
            if error.startswith(("SyntaxError", "IndentationError", "TabError"))
            else ("missing_entry_point" if error.startswith("MissingEntryPoint") else "program_error")
        )
        return f"{kind}: {error}"
    # the first failed test says most about the program; a later timeout or crash is a consequence
    for index in range(len(plan.units)):
        unit = units.get(index)
        if unit is not None and not unit.get("ok"):
            error = str(unit.get("error"))
            kind = (
                "assertion"
                if error.startswith("AssertionError")
                else "memory"
                if error.startswith("MemoryError")
                else "untrusted_value"
                if error.startswith("UntrustedValue")
                else "exception"
            )
            return f"{kind}: {error} in `{plan.units[index][:160]}`"
    if result.timed_out:
        return f"timeout: still running after {result.seconds:.1f}s ({len(units)}/{len(plan.units)} units done)"
    if result.output_overflow:
        return "output_limit: the program wrote more output than allowed"
    if result.killed_by_signal is not None:
        return f"crash: killed by signal {result.killed_by_signal} ({_signal_hint(result.killed_by_signal)})"
    if not clean:
        return "tampered: unexpected data on the verdict channel"
    if not done:
        return f"no_verdict: the process ended (status {result.returncode}) before the tests finished"
    return f"crash: exit status {result.returncode}"


def _signal_hint(signum: int) -> str:
    import signal

    hints = {
        signal.SIGXCPU: "CPU time limit",
        signal.SIGKILL: "killed",
        signal.SIGSEGV: "segfault, e.g. stack overflow",
        signal.SIGXFSZ: "file size limit",
        signal.SIGABRT: "abort",
    }
    return hints.get(signum, signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else "?")


def _clip(data: bytes, tail: bool = False) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) <= _DETAIL_CHARS:
        return text
    if tail:  # where an error ends up
        return f"[{len(text)} chars] ..." + text[-_DETAIL_CHARS:]
    return text[:_DETAIL_CHARS] + f"... [{len(text)} chars]"
