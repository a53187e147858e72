"""A sandbox that breaks before the source runs says so: `SandboxResult.setup_error`, and a code outcome
with reason `sandbox_error: ...` and the stderr tail, never the reason of an ordinary failing program."""

import sys

from verifiers.code import check
from verifiers.sandbox import SandboxLimits, run_python

TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
ADD = "def add(a, b):\n    return a + b\n"


def test_an_interpreter_that_cannot_be_started_is_a_sandbox_error(tmp_path, monkeypatch):
    # The host starts stage one through this script, which then vanishes: stage one's exec of the
    # interpreter fails exactly as it did for a venv that the sandbox's mounts hid.
    vanishing = tmp_path / "python-that-vanishes"
    vanishing.write_text(f'#!/bin/sh\nrm -f "$0"\nexec {sys.executable} "$@"\n')
    vanishing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(vanishing))
    outcome = check(ADD, TESTS, entry_point="add", timeout=10)
    assert not outcome.correct and outcome.score == 0.0
    assert outcome.reason.startswith(f"sandbox_error: cannot start the interpreter {vanishing}: FileNotFoundError"), (
        outcome.reason
    )
    assert outcome.details["sandbox_error"] is True and "FileNotFoundError" in outcome.details["stderr"]


def test_an_interpreter_that_dies_before_running_the_source_is_a_sandbox_error():
    # 2 MiB of address space: the dynamic loader (or the interpreter) fails before stage two reports
    result = run_python("print('never')", limits=SandboxLimits(wall_seconds=10, memory_bytes=2 << 20))
    assert result.isolation == {} and result.stdout == b""
    assert result.setup_error.startswith(f"the sandboxed interpreter {sys.executable} ")
    assert "before running the source" in result.setup_error
    outcome = check(ADD, TESTS, entry_point="add", limits=SandboxLimits(wall_seconds=10, memory_bytes=2 << 20))
    assert outcome.reason.startswith("sandbox_error: the sandboxed interpreter") and outcome.details["sandbox_error"]


def test_a_program_that_fails_is_not_a_sandbox_error():
    for program in ("import os\nos._exit(1)\n", "raise SystemExit(1)\n", "def add(a, b):\n    return 0\n"):
        outcome = check(program, TESTS, entry_point="add", timeout=10)
        assert not outcome.correct and not outcome.reason.startswith("sandbox_error"), outcome.reason
        assert "sandbox_error" not in outcome.details


def test_a_source_that_exits_at_once_still_has_an_isolation_report():
    result = run_python("import os\nos._exit(3)", limits=SandboxLimits(wall_seconds=10))
    assert result.returncode == 3 and result.isolation and result.setup_error is None
