"""Test harness that runs inside the sandbox: execute a program, then its test units, and report.

Never imported by the host: `verifiers.code` runs this file's text as the sandbox source. The payload (JSON)
holds the program, the test units prepared by `verifiers._code_tests`, and a random nonce. Every report line
on the private channel is `<nonce> <json>`: `{"event": "program"|"unit"|"done", ...}`. The program never sees
the channel's data and the nonce is only kept inside `main`, so printing, exiting early (`sys.exit`,
`os._exit`), or dying cannot produce the final "done" line.

Defences against a program that games its tests from inside the interpreter:
- tests run with a private copy of the builtins taken before the program ran, so patching `builtins` does
  not reach them; common modules the tests import are restored to their pre-program state before each unit;
- everything a program function returns to a test must be plain data (None, bool, int, float, complex, str,
  bytes, list, tuple, dict, set, frozenset, a few unpatched stdlib types, numpy numbers and numeric arrays),
  checked by exact type, so an object whose `__eq__` (or `__bool__`, `__lt__`, ...) always agrees cannot
  pass a comparison.
- an audit hook (PEP 578; it cannot be removed) installed before the program runs denies the doors to the
  harness's own state: frames (`sys._getframe`, traceback/generator frames, `sys._current_frames`), `gc`
  object walks, tracing/profiling hooks, every `ctypes` operation, building code objects or loading them with
  `marshal` (modules imported from then on compile from source), and reading /proc/*/mem. `sys._getframe`
  fails with ValueError, which `namedtuple`, `typing` and `enum` tolerate;
- the program runs in a worker thread; the main thread, the only one that runs Python signal handlers (which
  receive the interrupted frame), stays parked with every signal blocked.
Not defended: memory-safety bugs of CPython itself. See `verifiers.code`.
"""

import _thread
import builtins
import collections
import decimal
import fractions
import json.encoder
import os
import signal
import sys
import types

# Functions defined below look builtins up in this private copy (bound at definition time), so a program
# that patches the `builtins` module cannot change what `type`, `isinstance` or `exec` mean to the harness.
__builtins__ = dict(vars(builtins))
MODULE_TYPE = types.ModuleType
QUOTE = json.encoder.encode_basestring_ascii  # captured: `json` may be patched by the program

PRISTINE_MODULES = (
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "string",
    "random",
    "copy",
    "fractions",
    "decimal",
    "operator",
    "bisect",
    "statistics",
    "hashlib",
    "typing",
    "cmath",
)
# Types are compared by identity (`is`), never by `in`/`==`: a metaclass can make any class hash and compare
# equal to `int`. Flags are read through type's own descriptor, which a metaclass cannot shadow.
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)
TYPE_FLAGS = type.__dict__["__flags__"].__get__
CONTAINERS = (list, tuple, set, frozenset, collections.deque)
STDLIB_TYPES = (
    collections.OrderedDict,
    collections.defaultdict,
    collections.Counter,
    collections.deque,
    fractions.Fraction,
    decimal.Decimal,
)


DENIED_EVENTS = frozenset(
    {
        "sys._getframe",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "code.__new__",
        "function.__new__",
        "marshal.loads",
        "marshal.load",
    }
)
HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})


def _numpy_data(kind, item):
    """numpy scalars and arrays of numbers or strings. Their types are C types, which Python code can neither
    define (every class statement makes a heap type) nor patch, so their comparisons are numpy's own."""

    def numpy_c_type(t):
        return not TYPE_FLAGS(t) & HEAP_TYPE and t.__module__ == "numpy"

    return (
        numpy_c_type(kind)
        and any(numpy_c_type(base) and base.__name__ in ("generic", "ndarray") for base in kind.__mro__)
        and item.dtype.kind in "biufcSUmM"
    )


class UntrustedValue(Exception):
    """A program function returned something that is not plain data (it could fake any comparison)."""


def _encode(event):
    """JSON for our own flat events, without `json.dumps` (whose module globals the program could patch)."""

    def value(v):
        if v is None or type(v) is bool:
            return {None: "null", True: "true", False: "false"}[v]
        if type(v) is int:
            return int.__repr__(v)
        return QUOTE(v if type(v) is str else "?")

    return ("{" + ",".join(QUOTE(k) + ":" + value(v) for k, v in event.items()) + "}").encode()


def _describe(error):
    """`Type: message` without running code of the program (no user `__str__`/`__repr__`)."""
    name = type(error).__name__
    if isinstance(error, SyntaxError) and type(error.msg) is str:
        return f"{name}: {error.msg[:200]} (line {error.lineno})"
    first = error.args[0] if error.args else None
    return f"{name}: {first[:200]}" if type(first) is str else name


class Guard:
    """Snapshots taken before the program runs, and the checks that rely on them."""

    def __init__(self):
        for name in PRISTINE_MODULES:
            __import__(name)
        self.modules = {name: (sys.modules[name], dict(vars(sys.modules[name]))) for name in PRISTINE_MODULES}
        self.builtins = dict(vars(builtins))
        self.real_import = builtins.__import__
        self.builtins["__import__"] = self.test_import
        self.type_dicts = [(t, dict(vars(t))) for t in STDLIB_TYPES]

    def restore_modules(self):
        for name, (module, snapshot) in self.modules.items():
            namespace = vars(module)
            namespace.clear()
            namespace.update(snapshot)
            sys.modules[name] = module

    def test_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in self.modules:
            return self.modules[name][0]
        return self.real_import(name, globals, locals, fromlist, level)

    def untrusted_type(self, value):
        """None if `value` is plain data all the way down, else the name of the first offending type."""
        stack, seen = [value], set()
        while stack:
            item = stack.pop()
            kind = type(item)
            if not any(kind is t for t in PLAIN_TYPES) and not _numpy_data(kind, item):
                snapshot = next((snap for t, snap in self.type_dicts if kind is t), None)
                if (
                    snapshot is None
                    or vars(kind).keys() != snapshot.keys()
                    or any(vars(kind)[key] is not attr for key, attr in snapshot.items())
                ):
                    return f"{kind.__module__}.{kind.__qualname__}"
            if isinstance(item, CONTAINERS + (dict,)) and id(item) not in seen:
                seen.add(id(item))
                stack.extend(item.items() if isinstance(item, dict) else item)
        return None

    def wrap(self, function):
        """The function as tests see it: its results are checked before any test code touches them."""
        untrusted_type, restore_modules = self.untrusted_type, self.restore_modules

        def guarded(*args, **kwargs):
            arguments = [*args, *kwargs.values()]
            plain = [a for a in arguments if untrusted_type(a) is None]
            result = function(*args, **kwargs)
            restore_modules()  # e.g. `candidate(x) == math.pi` reads math.pi after the call
            bad = untrusted_type(result)
            if bad is not None:
                raise UntrustedValue(f"returned a {bad}, not plain data")
            for argument in plain:  # `candidate(xs); assert xs == [...]`: no planted objects in the arguments
                bad = untrusted_type(argument)
                if bad is not None:
                    raise UntrustedValue(f"put a {bad} into its argument, not plain data")
            return result

        return guarded


def _audit(event, args):
    """Deny the program every door to the harness's frames and memory (see the module docstring)."""
    if event == "import" and args[0] in ("ctypes", "_ctypes"):
        raise ImportError(f"{args[0]} is disabled in the verifier sandbox")  # numpy imports fine without it
    if event in DENIED_EVENTS or event.startswith("ctypes."):
        raise ValueError(f"{event} is disabled in the verifier sandbox")  # ValueError: what _getframe raises
    if event == "object.__getattr__" and args[1] in FRAME_ATTRIBUTES:
        raise AttributeError(f"{args[1]} is disabled in the verifier sandbox")
    if event == "object.__setattr__" and args[1] == "__code__":
        raise AttributeError("replacing __code__ is disabled in the verifier sandbox")
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith("/proc/") and path.endswith("/mem"):
            raise PermissionError(f"{path} is disabled in the verifier sandbox")


def _seal():
    """Drop what the sandbox bootstrap left importable (ctypes), then install the audit hook for good."""
    for name in [n for n in sys.modules if n in ("ctypes", "_ctypes") or n.startswith("ctypes.")]:
        del sys.modules[name]
    # marshal would load crafted bytecode, so it is denied; imports then must not read .pyc files (they are
    # marshalled): point the bytecode cache at a path that cannot exist, and compile sources instead.
    sys.pycache_prefix = os.devnull + "/pycache"
    sys.addaudithook(_audit)


def _test_namespace(guard, program_ns, payload):
    """Tests see the program's functions (wrapped), never its overrides of builtin names."""
    namespace = {"__name__": "__tests__", "__builtins__": guard.builtins}
    for name, value in program_ns.items():  # HumanEval tests use helpers from the prompt (e.g. encode_cyclic)
        if name.startswith("__") or name in guard.builtins or type(value) is MODULE_TYPE:
            continue
        if callable(value):  # functions, classes, callable objects: whatever they return is checked
            namespace[name] = guard.wrap(value)
        elif guard.untrusted_type(value) is None:  # plain constants; nothing else reaches the tests
            namespace[name] = value
    entry_point = payload["entry_point"]
    if entry_point is not None:
        function = program_ns.get(entry_point)
        if not callable(function):
            return None
        namespace[entry_point] = guard.wrap(function)
        if payload["candidate_name"]:
            namespace[payload["candidate_name"]] = namespace[entry_point]
    return namespace


def main():
    """Main thread: set up, then park for good with every signal blocked, so that no Python signal handler
    the program installs ever runs (a handler receives the interrupted frame, and frames lead to secrets)."""
    g = globals()
    payload = json.loads(g.pop("SANDBOX_PAYLOAD"))
    channel = g.pop("SANDBOX_CHANNEL")
    guard = Guard()
    _seal()
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # inherited by the worker, which unblocks
    _thread.stack_size(64 << 20)  # deep (C-level) recursion gets the room a main thread would have
    parked = _thread.allocate_lock()
    parked.acquire()
    _thread.start_new_thread(_run_guarded, (payload, channel, guard, os._exit))
    del payload, channel, guard
    parked.acquire()  # never released: the worker ends the process


def _run_guarded(payload, channel, guard, exit_now):
    status = 1  # a harness failure ends the run without a "done" line: a failed verdict, never a pass
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        _run(payload, channel, guard)
        status = 0
    finally:
        exit_now(status)  # no atexit handlers, no waiting for threads the program left running


def _run(payload, channel, guard):
    """Worker thread: the program, then each test unit, each result reported as soon as it is known."""
    prefix = payload.pop("nonce").encode() + b" "
    write, stdout, stderr = os.write, sys.__stdout__, sys.__stderr__

    def emit(**event):
        write(channel, prefix + _encode(event) + b"\n")

    program_ns = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        code = compile(payload["program"], "<solution>", "exec")
        exec(code, program_ns)
        test_ns = _test_namespace(guard, program_ns, payload)
        error = None if test_ns is not None else f"MissingEntryPoint: no function {payload['entry_point']!r}"
    except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: all are the program's failure
        error = _describe(e)
    emit(event="program", ok=error is None, error=error)
    if error is None:
        for index, source in enumerate(payload["units"]):
            guard.restore_modules()
            try:
                exec(compile(source, f"<test {index}>", "exec"), test_ns)
                emit(event="unit", index=index, ok=True, error=None)
            except BaseException as e:  # noqa: BLE001
                emit(event="unit", index=index, ok=False, error=_describe(e))
    for stream in (stdout, stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have broken its own streams
            pass
    emit(event="done")


main()
