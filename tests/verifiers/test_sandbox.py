"""The generic sandbox: what goes in and out, limits, isolation, cleanup."""

import ast
import hashlib
import os
import threading

import pytest

from verifiers.sandbox import SandboxLimits, live_pids_of_uid, run_python

FAST = SandboxLimits(wall_seconds=5.0, cpu_seconds=5)
ROOT = os.geteuid() == 0


def test_stdout_stdin_payload_and_channel_round_trip():
    source = (
        "import os, sys\nprint(sys.stdin.read().upper())\nprint('err', file=sys.stderr)\n"
        "os.write(SANDBOX_CHANNEL, SANDBOX_PAYLOAD[::-1])\n"
    )
    result = run_python(source, stdin=b"hello", payload=b"abc", limits=FAST)
    assert result.returncode == 0 and not result.timed_out
    assert result.stdout == b"HELLO\n" and result.stderr == b"err\n"
    assert result.channel == b"cba"
    assert result.isolation["network"] in ("namespace", "socket_shim")


def test_large_stdin_is_fed_without_deadlock():
    data = os.urandom(1 << 20)
    source = "import sys, hashlib\nprint(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())\n"
    result = run_python(source, stdin=data, limits=FAST)
    assert result.stdout.decode().strip() == hashlib.sha256(data).hexdigest()


def test_exit_status_and_exception_are_reported():
    assert run_python("raise SystemExit(3)", limits=FAST).returncode == 3
    result = run_python("1 / 0", limits=FAST)
    assert result.returncode == 1 and b"ZeroDivisionError" in result.stderr


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    result = run_python("import os\nprint(sorted(os.environ))", limits=FAST)
    names = ast.literal_eval(result.stdout.decode())
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert set(names) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    }


def test_working_directory_is_private_and_removed():
    source = "import os\nopen('f.txt', 'w').write('x')\nprint(os.getcwd())\nprint(os.listdir('.'))"
    result = run_python(source, limits=FAST)
    workdir, listing = result.stdout.decode().splitlines()
    assert listing == "['f.txt']"
    assert not os.path.exists(workdir)


def test_timeout_kills_the_whole_process_group():
    source = (
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(600)\n"
        "        os._exit(0)\nprint('forked', flush=True)\ntime.sleep(600)"
    )
    result = run_python(source, limits=SandboxLimits(wall_seconds=1.5))
    assert result.timed_out and result.returncode is None
    assert result.stdout == b"forked\n"
    if ROOT:
        assert live_pids_of_uid(result.isolation["uid"]) == []


def test_cpu_limit_stops_a_busy_loop():
    result = run_python("while True:\n    pass", limits=SandboxLimits(wall_seconds=30, cpu_seconds=1))
    assert not result.timed_out
    assert result.killed_by_signal is not None  # SIGXCPU (or SIGKILL past the hard limit)


def test_file_size_limit():
    result = run_python(
        "open('big', 'wb').write(b'x' * (4 << 20))", limits=SandboxLimits(wall_seconds=5, file_size_bytes=1 << 20)
    )
    assert result.returncode != 0  # SIGXFSZ kills it (or OSError(EFBIG) if the signal is ignored)


def test_output_cap():
    result = run_python(
        "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)",
        limits=SandboxLimits(wall_seconds=10, max_output_bytes=100_000),
    )
    assert result.output_overflow and len(result.stdout) <= 100_000


@pytest.mark.skipif(not ROOT, reason="uid switch and namespaces need root")
def test_root_isolation_is_in_place():
    source = (
        "import os, sys\nprint(os.stat('/proc/self/mem').st_uid, 'ctypes' in sys.modules, os.getuid(), "
        "os.getgid(), os.getgroups(), os.listdir('/tmp'))"
    )
    result = run_python(source, limits=FAST)
    mem_owner, ctypes_loaded, uid, gid, groups, tmp = result.stdout.decode().split(" ", 5)
    assert mem_owner == "0"  # non-dumpable: its memory is closed to other processes of its uid
    assert ctypes_loaded == "False"  # the interpreter that runs the source never loaded ctypes
    assert int(uid) == result.isolation["uid"] != 0 and int(gid) == int(uid) and groups == "[]"
    assert result.isolation["network"] == "namespace" and result.isolation["mount_namespace"]
    # only its own working directory is in its private /tmp, besides what re-exposes a venv that lives there
    venv_entries = {path.split("/")[2] for path in result.isolation["exposed"] if path.startswith("/tmp/")}
    assert len(set(ast.literal_eval(tmp)) - venv_entries) == 1


def test_limits_are_validated():
    with pytest.raises(ValueError, match="wall_seconds"):
        SandboxLimits(wall_seconds=0)
    with pytest.raises(ValueError, match="nproc"):
        SandboxLimits(nproc=0)
    with pytest.raises(ValueError, match="uid_base"):
        SandboxLimits(uid_base=0)


def test_parallel_runs_get_separate_uids():
    results = [None] * 4

    def worker(i):
        results[i] = run_python("import time, os\ntime.sleep(0.5)\nprint(os.getuid())", limits=FAST)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    uids = [int(r.stdout) for r in results]
    assert all(r.returncode == 0 for r in results)
    if ROOT:
        assert len(set(uids)) == 4
