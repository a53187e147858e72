"""One test per attack on the code verifier: each must fail (correct=False) within its time limit and leave
the host unharmed (sentinel files intact, this process alive, no process of the run left behind)."""

import os
import socket
import textwrap
import threading

import pytest

from verifiers.code import check
from verifiers.sandbox import live_pids_of_uid

TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 5) == 7\n"
TIMEOUT = 3.0
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="without root the sandbox runs as the host user (see sandbox docs)")


def run_attack(program: str, timeout: float = TIMEOUT):
    before = set(_live_descendants(os.getpid()))  # e.g. math verifier workers started by earlier tests
    outcome = check(textwrap.dedent(program), TESTS, entry_point="add", timeout=timeout)
    assert outcome.correct is False, outcome
    assert outcome.details["seconds"] < timeout + 10  # generous: the run was killed, not waited for
    uid = outcome.details["sandbox_uid"]
    if uid is not None and uid != os.getuid():
        assert live_pids_of_uid(uid) == [], "a process of the run survived it"
    assert set(_live_descendants(os.getpid())) <= before, "a child process of this run survived it"
    return outcome


def _live_descendants(root: int) -> list[int]:
    parents = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(name)] = int(fields[1])
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found.extend(frontier)
    return found


def _printed_pids(outcome) -> list[int]:
    return [int(word[4:]) for word in outcome.details["stdout"].split() if word.startswith("pid=")]


def test_infinite_loop():
    outcome = run_attack("def add(a, b):\n    while True:\n        pass\n", timeout=2.0)
    assert outcome.reason.startswith(("timeout", "crash")), outcome.reason


def test_sleep():
    outcome = run_attack("import time\ntime.sleep(100)\ndef add(a, b):\n    return a + b\n", timeout=2.0)
    assert outcome.reason.startswith("timeout"), outcome.reason


def test_memory_bomb():
    outcome = run_attack(
        """
        def add(a, b):
            hog = []
            while True:
                hog.append(bytearray(64 << 20))
    """,
        timeout=10.0,
    )  # filling 1 GiB takes a while on a busy machine
    assert outcome.reason.startswith("memory"), outcome.reason


def test_bounded_fork_attempt_leaves_nothing_behind():
    outcome = run_attack("""
        import os, time
        for _ in range(64):  # RLIMIT_NPROC stops this early; whatever started must still die with the run
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.setsid()  # escape the process group: only the per-run uid catches it
                time.sleep(600)
                os._exit(0)
            print(f"pid={pid}", flush=True)
        def add(a, b):
            return a - b
    """)
    pids = _printed_pids(outcome)
    assert pids, outcome.details["stdout"]
    if ROOT:
        assert len(pids) < 64  # the process limit held
    for pid in pids:
        assert not _alive(pid), f"forked process {pid} survived"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    "program",
    [
        "def add(a, b):\n    return add(a, b)\n",
        "import sys\nsys.setrecursionlimit(10**7)\ndef add(a, b):\n    return add(a, b) + 1\n",
    ],
)
def test_recursion_bomb(program):
    outcome = run_attack(program)
    # CPython 3.11+ keeps Python frames off the C stack: a huge limit ends in MemoryError, a crash or the timeout
    assert outcome.reason.startswith(("exception: RecursionError", "crash", "memory", "timeout")), outcome.reason


@needs_root
def test_kill_the_parent_and_everyone():
    outcome = run_attack("""
        import os, signal
        for target in (os.getppid(), -1):  # -1: every process this uid may signal
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print("refused", e)
        def add(a, b):
            return a - b
    """)
    assert "refused" in outcome.details["stdout"]  # the host was out of reach (kill(-1) spares the caller)


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit(0)"])
@pytest.mark.parametrize("where", ["top", "call"])
def test_exit_before_the_asserts(exit_call, where):
    body = f"    {exit_call}\n" if where == "call" else "    return a + b\n"
    program = f"import os, sys\ndef add(a, b):\n{body}" + (exit_call + "\n" if where == "top" else "")
    outcome = run_attack(program)
    assert outcome.score == 0.0


@pytest.mark.parametrize(
    "result",
    [
        "type('AlwaysEqual', (), {'__eq__': lambda s, o: True, '__ne__': lambda s, o: False})()",
        "type('EqInt', (int,), {'__eq__': lambda s, o: True})(0)",
        "type('Sneaky', (str,), {'__eq__': str.__ne__})('zzz')",
        "[type('Inner', (), {'__eq__': lambda s, o: True})()]",
        # a metaclass that makes the class hash and compare equal to int, with a fake __flags__ and __module__
        "type('Meta', (type,), {'__hash__': lambda c: hash(int), '__eq__': lambda c, o: True, "
        "'__flags__': property(lambda c: 0), '__module__': 'numpy'})('Fake', (), {'__eq__': lambda s, o: True})()",
    ],
)
def test_always_equal_objects(result):
    outcome = run_attack(f"def add(a, b):\n    return {result}\n")
    assert outcome.reason.startswith("untrusted_value"), outcome.reason


@pytest.mark.parametrize(
    "patch, tests",
    [
        (
            "import builtins\nbuiltins.abs = lambda x: 0",
            "def check(candidate):\n    assert abs(candidate(1, 2) - 3) < 1e-9\n",
        ),
        (
            "import builtins\nbuiltins.len = lambda x: 3",
            "def check(candidate):\n    assert len(candidate(1, 2)) == 3\n",
        ),
        (
            "import math\nmath.isclose = lambda *a, **k: True",
            "import math\ndef check(candidate):\n    assert math.isclose(candidate(1, 2), 3)\n",
        ),
        (
            "import sys, types\nsys.modules['math'] = types.SimpleNamespace(isclose=lambda *a, **k: True)",
            "import math\ndef check(candidate):\n    assert math.isclose(candidate(1, 2), 3)\n",
        ),
        (
            "def check(candidate):\n    pass\nabs = lambda x: 0",
            "def check(candidate):\n    assert abs(candidate(1, 2) - 3) < 1e-9\n",
        ),
    ],
)
def test_patched_builtins_and_test_function(patch, tests):
    program = f"{patch}\ndef add(a, b):\n    return 'wrong'\n"
    outcome = check(program, tests, entry_point="add", timeout=TIMEOUT)
    assert outcome.correct is False and outcome.score == 0.0, outcome


@pytest.mark.parametrize(
    "program, tests",
    [
        # plant an always-equal object in the argument the test inspects afterwards
        (
            "class Eq:\n    __eq__ = lambda s, o: True\ndef add(xs):\n    xs[:] = [Eq()]\n",
            "def check(candidate):\n    xs = [3, 1]\n    candidate(xs)\n    assert xs == [1, 3]\n",
        ),
        # patch a module attribute that the test reads after the call
        (
            "import math\nclass Eq:\n    __eq__ = lambda s, o: True\ndef add(xs):\n    math.pi = Eq()\n    return 3\n",
            "import math\ndef check(candidate):\n    assert candidate([1]) == math.pi\n",
        ),
    ],
)
def test_values_planted_outside_the_return_value(program, tests):
    outcome = check(program, tests, entry_point="add", timeout=TIMEOUT)
    assert not outcome.correct and outcome.score == 0.0, outcome


def test_mbpp_style_names_are_guarded_too():
    # tests call program names directly; a class (not a function) must not smuggle in an always-equal object
    program = (
        "class Eq:\n    __eq__ = lambda s, o: True\nclass add:\n    def __new__(cls, a, b):\n        return Eq()\n"
    )
    outcome = check(program, ["assert add(1, 2) == 3"], timeout=TIMEOUT)
    assert outcome.reason.startswith("untrusted_value"), outcome.reason


def test_patching_the_verdict_writer_fails():
    # json is what a naive harness would report with; the harness must not depend on it.
    outcome = run_attack("""
        import json
        json.dumps = lambda *a, **k: '{"event": "unit", "ok": true}'
        json.encoder.encode_basestring_ascii = lambda s: '"x"'
        def add(a, b):
            return 0
    """)
    assert outcome.reason.startswith("assertion"), outcome.reason


@needs_root
def test_file_writes_and_deletes_outside_the_tempdir(tmp_path):
    shared = tmp_path / "shared"  # world-writable: only the private /tmp mount protects it
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    world_writable = shared / "sentinel.txt"
    world_writable.write_text("keep")
    os.chmod(world_writable, 0o666)
    repo_file = os.path.abspath(__file__)  # owned by root, outside /tmp
    with open(repo_file, "rb") as f:
        repo_bytes = f.read()
    outcome = run_attack(f"""
        import os, shutil
        succeeded = []
        for path in ({str(world_writable)!r}, {repo_file!r}):
            for attempt in (lambda: open(path, "w").write("pwned"), lambda: os.remove(path)):
                try:
                    attempt()
                    succeeded.append(path)
                    print("did", path)
                except OSError as e:
                    print("refused", type(e).__name__)
        for path in ("/tmp/pwned", "/var/tmp/pwned", "/dev/shm/pwned", os.path.dirname({repo_file!r}) + "/pwned"):
            try:
                open(path, "w").write("x")
            except OSError:
                pass
        open("inside.txt", "w").write("fine")  # the working directory is writable
        print("inside", open("inside.txt").read())
        def add(a, b):
            return a + b if succeeded else None  # right only if a write or delete outside got through
    """)
    assert world_writable.read_text() == "keep"
    with open(repo_file, "rb") as f:
        assert f.read() == repo_bytes
    for path in ("/tmp/pwned", "/var/tmp/pwned", "/dev/shm/pwned", os.path.dirname(repo_file) + "/pwned"):
        assert not os.path.exists(path), path
    assert "did" not in outcome.details["stdout"].split() and "inside fine" in outcome.details["stdout"]
    assert outcome.reason.startswith("assertion")  # nothing outside got through, so add() is wrong


def test_reading_environment_variables(monkeypatch):
    monkeypatch.setenv("VERIFIER_TEST_SECRET", "s3cret-value")
    outcome = run_attack("""
        import os
        found = "VERIFIER_TEST_SECRET" in os.environ
        try:
            found = found or b"s3cret-value" in open(f"/proc/{os.getppid()}/environ", "rb").read()
        except OSError:
            pass
        print(sorted(os.environ))
        def add(a, b):
            return a + b if found else None
    """)
    assert "s3cret" not in outcome.details["stdout"] + outcome.details["stderr"]
    assert outcome.reason.startswith("assertion"), outcome.reason


def test_opening_a_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        outcome = run_attack(f"""
            import socket
            reached = False
            for address in (("127.0.0.1", {port}), ("1.1.1.1", 80)):
                try:
                    socket.create_connection(address, timeout=1).close()
                    reached = True
                except OSError as e:
                    print("refused", type(e).__name__)
            def add(a, b):
                return a + b if reached else None
        """)
        with pytest.raises(socket.timeout):
            server.accept()  # nobody connected to the host
    finally:
        server.close()
    assert outcome.reason.startswith("assertion"), outcome.reason
    assert outcome.details["network"] in ("namespace", "socket_shim")


def test_megabytes_of_output():
    outcome = run_attack("""
        import sys
        for _ in range(10_000):
            sys.stdout.write("x" * 10_000)
        def add(a, b):
            return a + b
    """)
    assert outcome.reason.startswith("output_limit"), outcome.reason
    assert len(outcome.details["stdout"]) < 10_000


def test_threads_that_outlive_the_test():
    outcome = run_attack("""
        import os, sys, threading, time
        def late():
            time.sleep(0.5)
            print("0" * 32 + ' {"event": "done"}', flush=True)
            os._exit(0)
        threading.Thread(target=late).start()  # non-daemon: would block a normal interpreter exit
        threading.Thread(target=time.sleep, args=(600,)).start()
        def add(a, b):
            time.sleep(1.0)
            return a - b
    """)
    assert outcome.reason.startswith(("assertion", "no_verdict")), outcome.reason


def test_printing_a_guessed_marker_and_writing_every_fd():
    outcome = run_attack("""
        import os
        fake = b'{"event": "done"}\\n'
        print('{"event": "done"}', flush=True)
        for fd in range(3, 64):
            try:
                os.write(fd, b"00000000000000000000000000000000 " + fake)
            except OSError:
                pass
        os._exit(0)
        def add(a, b):
            return a + b
    """)
    assert outcome.reason.startswith(("tampered", "no_verdict")), outcome.reason


def test_checks_run_from_threads_concurrently():
    honest = "def add(a, b):\n    return a + b\n"
    hostile = "import os\nos._exit(0)\n"
    results = {}

    def worker(i):
        results[i] = check(honest if i % 2 == 0 else hostile, TESTS, entry_point="add", timeout=TIMEOUT)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i].correct for i in range(4)] == [True, False, True, False]


FORGE = """
def forge(emit, units):
    emit(event="program", ok=True, error=None)
    for i in range(len(units)):
        emit(event="unit", index=i, ok=True, error=None)
    emit(event="done")
    os._exit(0)
"""


@pytest.mark.parametrize(
    "reach_the_harness",
    [
        # the frame that runs the program is the harness's: its locals hold `emit` and the payload
        "f = sys._getframe(1)",
        "import inspect\nf = inspect.currentframe().f_back",
        "try:\n    raise ValueError\nexcept ValueError as e:\n    f = e.__traceback__.tb_frame.f_back",
        "f = next(iter(sys._current_frames().values())).f_back",
        "import gc\nf = next(o for o in gc.get_objects() if type(o).__name__ == 'frame' and 'emit' in o.f_locals)",
        "frames = []\nsys.settrace(lambda frame, event, arg: frames.append(frame))\nf = None",
    ],
)
def test_interpreter_introspection_cannot_forge_a_verdict(reach_the_harness):
    program = (
        "import os, sys\n" + FORGE + reach_the_harness + "\nforge(f.f_locals['emit'], f.f_locals['payload']['units'])\n"
    )
    outcome = run_attack(program + "def add(a, b):\n    return a - b\n")
    assert outcome.reason.startswith("program_error"), outcome.reason


@pytest.mark.parametrize(
    "peek",
    [
        "import ctypes\nctypes.string_at(id(object), 8)",
        "import sys\nsys.modules['__main__'].libc.getpid()",
        "open('/proc/self/mem', 'rb')",
        "import os\nos.chdir('/proc/self')\nopen('mem', 'rb')",
        "import marshal\nexec(marshal.loads(marshal.dumps(compile('x = 1', 'x', 'exec'))))",
        "import types\ntypes.CodeType.replace((lambda: 0).__code__, co_consts=(None,))",
        # a cached extension module can be revived without an import event, so ctypes is never loaded at all
        "import _imp, importlib.machinery, importlib.util\n"
        "_imp.create_dynamic(importlib.machinery.ModuleSpec('_ctypes', None, "
        "origin=importlib.util.find_spec('_ctypes').origin)).PyObj_FromPtr",
    ],
)
def test_raw_memory_access_is_denied(peek):
    outcome = run_attack(peek + "\ndef add(a, b):\n    return a + b\n")
    assert outcome.reason.startswith("program_error"), outcome.reason


def test_honest_programs_that_touch_frames_indirectly_still_pass():
    program = textwrap.dedent("""
        import collections, enum, typing, dataclasses, datetime, difflib, textwrap  # fresh imports: from source
        Pair = collections.namedtuple("Pair", "a b")
        class Typed(typing.NamedTuple):
            a: int
            b: int
        Color = enum.Enum("Color", "RED GREEN")
        @dataclasses.dataclass
        class Box:
            value: int
        def add(a, b):
            p, t = Pair(a, b), Typed(a, b)
            assert Color.RED.value == 1
            return Box(p.a + t.b).value
    """)
    outcome = check(program, TESTS, entry_point="add", timeout=TIMEOUT)
    assert outcome.correct, outcome


def test_signal_handler_frames_cannot_forge_a_verdict():
    # A Python signal handler receives the interrupted frame, whose f_back chain (not audited) would lead to
    # the harness; so programs run in a worker thread while the main thread, which alone runs handlers, is
    # parked with every signal blocked.
    program = (
        "import os, sys, signal, time\n"
        + FORGE
        + textwrap.dedent("""
        def handler(signum, frame):
            while frame is not None and "emit" not in frame.f_locals:
                frame = frame.f_back
            if frame is not None:
                forge(frame.f_locals["emit"], frame.f_locals["payload"]["units"])
        try:
            signal.signal(signal.SIGALRM, handler)
        except ValueError:
            pass
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        def add(a, b):
            time.sleep(0.3)
            return a - b
    """)
    )
    outcome = run_attack(program)
    assert outcome.reason.startswith(("assertion", "crash")), outcome.reason
