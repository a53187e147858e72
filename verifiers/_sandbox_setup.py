"""Stage one of a sandboxed child: isolate the process while it still has root, then exec stage two.

Never imported by the host: `verifiers.sandbox` passes this file's text to `python -I -S -c` with one
argument, the number of an inherited file descriptor that holds the JSON configuration (limits, sandbox uid,
working directory, channel fd, the interpreter and the paths it reads, the source, its payload, and the text
of stage two, `_sandbox_enter.py`). As root it:

1. enters new network and mount namespaces (network: no interfaces but a downed loopback);
2. makes every mount private and hides world-writable directories (/tmp, /var/tmp, /dev/shm, /run/lock)
   under fresh size-capped tmpfs mounts;
3. re-exposes, read-only, what the interpreter needs (`interpreter_paths`, listed by the host: a venv's bin/,
   pyvenv.cfg and site-packages, the base installation) wherever step 2 or a directory the sandbox uid may
   not enter (a 0700 home) would hide it: it opens O_PATH fds to them before any mount, covers such a
   directory with an empty tmpfs, then bind-mounts each path on a root-owned mount point in the tmpfs. This
   process runs with -S, so its own `sys.prefix` is the base installation, never the venv: the host's list
   is the truth. Then it mounts a tmpfs as the working directory;
4. closes every other descriptor, forbids gaining privileges (PR_SET_NO_NEW_PRIVS), sets the resource
   limits, and execs a fresh interpreter running stage two (which switches uid and runs the source).

Without root it does what an ordinary user can (a user+network namespace if the kernel allows one). If any
step fails, or the interpreter cannot be started, it writes `{"sandbox_error": why}` as the first line of
the channel (nothing untrusted has run, so the host trusts it) and exits 71.
"""

import ctypes
import json
import os
import resource
import signal
import stat
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data):
    _check(
        libc.mount(
            source and source.encode(), target.encode(), fstype and fstype.encode(), flags, data and data.encode()
        ),
        f"mount {target}",
    )


def _hidden_ancestor(path):
    """The outermost directory above (or at) `path` that 'others' may not enter, else None."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _within(path, directory):
    return path.startswith(directory.rstrip("/") + "/")


def _cover_of(path, covers):
    """The covering tmpfs `path` lies strictly below, else None (then it is visible, or cannot be exposed)."""
    return next((cover for cover in covers if _within(path, cover)), None)


def _open_interpreter_paths(paths, masked):
    """Before any mount: an O_PATH fd to each path the interpreter needs, and the barriers to cover.

    A path needs exposing when it lies under a masked directory (a venv in /tmp) or below a directory the
    sandbox uid may not enter (a venv in /root). Each is exposed both where it really is and where the host
    spells it (`python` in a venv's bin/ may be reached through a symlinked directory)."""
    targets, barriers = [], set()
    for spelled in paths:
        real = os.path.realpath(spelled)
        try:
            fd = os.open(real, os.O_PATH)
        except OSError:
            continue
        barrier = None if _cover_of(real, masked) else _hidden_ancestor(real)
        if barrier and barrier != real:
            barriers.add(barrier)
        targets += [(where, fd) for where in dict.fromkeys([real, os.path.normpath(spelled)])]
    return sorted(targets), sorted(barriers)  # outermost barriers: none lies inside another


def _same_file(path, fd):
    try:
        here, there = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _make_mount_point(path, cover, is_dir):
    """Create `path` (and its missing parents) inside the covering tmpfs: root-owned, not writable by others."""
    missing, current = [], path
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    real = os.path.realpath(current)  # a symlink in an exposed directory could lead back to a real filesystem
    if not (real == cover or _within(real, cover)):  # and nothing may ever be created there
        raise OSError(f"cannot expose {path}: {current} leads outside the tmpfs at {cover}")
    for directory in reversed(missing[1:]):
        os.mkdir(directory, 0o755)
        os.chmod(directory, 0o755)  # whatever the umask
    if is_dir:
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))


def _expose_python(targets, barriers, masked, size):
    """Re-expose, read-only, what the interpreter needs (config `interpreter_paths`) and would now be hidden.

    Barriers (e.g. /root, mode 0700) are covered by an empty tmpfs; masked directories already are. In those
    tmpfs, each needed path gets a root-owned mount point with the real directory (or file) bind-mounted on
    it read-only, nosuid, nodev: the sandbox sees exactly these paths, never the rest of /tmp or the home."""
    for barrier in barriers:
        _mount("tmpfs", barrier, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0755")
    covers, exposed = masked + barriers, []
    for where, fd in targets:  # sorted: a parent is exposed before its children, which then need nothing
        cover = _cover_of(where, covers)
        if cover is None or _same_file(where, fd):
            continue
        _make_mount_point(where, cover, stat.S_ISDIR(os.fstat(fd).st_mode))
        _mount(f"/proc/self/fd/{fd}", where, None, MS_BIND | MS_REC, None)
        _mount(None, where, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        exposed.append(where)
    for fd in {fd for _, fd in targets}:
        os.close(fd)
    return exposed


def _isolate_as_root(cfg, report):
    """Namespaces and mounts; needs CAP_SYS_ADMIN. Fills `report`; returns True if the mount ns holds."""
    try:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        report["network"] = "namespace"
    except OSError as e:
        report["namespace_error"] = str(e)
        return False
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing below may propagate back to the host
    masked = [d for d in WORLD_WRITABLE if os.path.isdir(d) and not os.path.islink(d)]
    targets, barriers = _open_interpreter_paths(cfg["interpreter_paths"], masked)  # before the masks hide them
    for directory in masked:
        _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_bytes']},mode=1777")
    report["masked"] = masked
    report["exposed"] = _expose_python(targets, barriers, masked, 1 << 20)
    os.makedirs(cfg["workdir"], mode=0o700, exist_ok=True)
    _mount(
        "tmpfs",
        cfg["workdir"],
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"size={cfg['tmpfs_bytes']},mode=0700,uid={cfg['uid']},gid={cfg['uid']}",
    )
    return True


def _isolate_unprivileged(report):
    """Best effort without root: a user namespace may allow a private network namespace."""
    try:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare")
        report["network"] = "namespace"
    except OSError as e:
        report["namespace_error"] = str(e)


def _set_limits(cfg):
    limits = {
        resource.RLIMIT_CPU: cfg["cpu_seconds"],
        resource.RLIMIT_AS: cfg["memory_bytes"],
        resource.RLIMIT_FSIZE: cfg["file_size_bytes"],
        resource.RLIMIT_NOFILE: cfg["nofile"],
        resource.RLIMIT_CORE: 0,
    }
    if cfg["uid"] is not None:  # RLIMIT_NPROC counts per real uid, and root ignores it: only a dropped uid
        limits[resource.RLIMIT_NPROC] = cfg["nproc"]
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def _stage_two_config(cfg, report, channel):
    """An inheritable memfd holding what the second stage needs (its fd number goes on its command line)."""
    stage_two = {key: cfg[key] for key in ("uid", "parent_pid", "site_dirs", "source", "payload")}
    stage_two.update(channel_fd=channel, report=report)
    fd = os.memfd_create("sandbox-config", 0)  # no MFD_CLOEXEC: the next image inherits it
    data = memoryview(json.dumps(stage_two).encode())
    while data:
        data = data[os.write(fd, data) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _prepare(cfg):
    """Isolate this process and write stage two's configuration; returns its fd."""
    report = {"network": "socket_shim", "uid": os.getuid(), "mount_namespace": False}
    if cfg["uid"] is not None and os.geteuid() == 0:
        report["mount_namespace"] = _isolate_as_root(cfg, report)
    else:
        cfg["uid"] = None
        _isolate_unprivileged(report)
    os.chdir(cfg["workdir"])
    channel = cfg["channel_fd"]
    os.closerange(3, channel)
    os.closerange(channel + 1, 1 << 16)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")  # survives exec and setuid
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if os.getppid() != cfg["parent_pid"]:  # the host died before PDEATHSIG was armed
        os._exit(70)
    config_fd = _stage_two_config(cfg, report, channel)
    _set_limits(cfg)  # after writing the memfd, which RLIMIT_FSIZE would cap
    return config_fd


def _fail(channel, message):
    """Tell the host why no source will run. Nothing untrusted has run yet, so the host trusts this line."""
    print(f"sandbox_error: {message}", file=sys.stderr, flush=True)
    os.write(channel, json.dumps({"sandbox_error": message}).encode() + b"\n")
    os._exit(71)


def main():
    cfg_fd = int(sys.argv[1])
    with os.fdopen(cfg_fd, "rb") as f:
        cfg = json.loads(f.read())
    executable, channel = cfg["executable"], cfg["channel_fd"]
    try:
        config_fd = _prepare(cfg)
    except Exception as e:  # noqa: BLE001 - whatever broke, the host must learn why, not just "status 1"
        _fail(channel, f"setting up the sandbox failed: {type(e).__name__}: {e}")
    # A fresh interpreter that never loaded ctypes: a cached _ctypes extension could be revived from Python
    # (`_imp.create_dynamic`) without any audit event, and it reads and writes arbitrary memory.
    try:
        os.execv(executable, [executable, "-I", "-S", "-c", cfg["stage_two_source"], str(config_fd)])
    except OSError as e:
        _fail(channel, f"cannot start the interpreter {executable}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
