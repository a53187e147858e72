"""The README's two commands are what a newcomer runs, and CI must run the very same test command."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands() -> list[str]:
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        section = f.read().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_ci_runs_the_readmes_test_command_in_a_fresh_venv():
    main_job, tests = _readme_commands()
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        ci_lines = [line for line in f.read().splitlines() if line and not line.startswith("#")]
    assert tests in ci_lines
    assert tests.endswith("python -m pytest") and main_job.endswith("python orchestration/train_loop.py")
    for command in (main_job, tests):  # a venv first, then the CPU torch before anything can pull a CUDA one
        steps = command.split(" && ")
        assert steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"], steps
        assert steps[2] == "pip install torch==2.13.0", steps
