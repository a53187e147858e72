"""Stage one of a sandboxed child: isolate the process while it still has root, then exec stage two.

Never imported by the host: `verifiers.sandbox` passes this file's text to `python -I -S -c` with one
argument, the number of an inherited file descriptor that holds the JSON configuration (limits, sandbox uid,
working directory, channel fd, the source, its payload, and the text of stage two, `_sandbox_enter.py`).
As root it:

1. enters new network and mount namespaces (network: no interfaces but a downed loopback);
2. makes every mount private, hides world-writable directories (/tmp, /var/tmp, /dev/shm, /run/lock) under
   fresh size-capped tmpfs mounts, mounts a tmpfs as the working directory, and re-exposes, read-only, the
   Python installation where it sits under a directory the sandbox uid may not enter (e.g. /root/.pyenv);
3. closes every other descriptor, forbids gaining privileges (PR_SET_NO_NEW_PRIVS), sets the resource
   limits, and execs a fresh interpreter running stage two (which switches uid and runs the source).

Without root it does what an ordinary user can (a user+network namespace if the kernel allows one).
"""
import ctypes
import json
import os
import resource
import signal
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
    _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                      data and data.encode()), f"mount {target}")


def _hidden_ancestor(path):
    """The outermost directory above (or at) `path` that 'others' may not enter, else None."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _expose_python(size):
    """Re-expose sys.path entries that sit under a directory the sandbox uid cannot enter (read-only)."""
    needed = {os.path.realpath(p) for p in sys.path + [sys.prefix, sys.base_prefix, sys.exec_prefix]
              if p and os.path.isdir(p)}
    by_barrier = {}
    for path in sorted(needed):
        barrier = _hidden_ancestor(path)
        if barrier and barrier in WORLD_WRITABLE:  # already replaced by an empty tmpfs: not re-exposed
            continue
        if barrier:
            by_barrier.setdefault(barrier, []).append(path)
    for barrier, paths in by_barrier.items():
        fds = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in paths]
        _mount("tmpfs", barrier, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0755")
        for path, fd in fds:
            os.makedirs(path, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
            os.close(fd)
    return sorted(by_barrier)


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
    for directory in masked:
        _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmpfs_bytes']},mode=1777")
    os.makedirs(cfg["workdir"], mode=0o700, exist_ok=True)
    _mount("tmpfs", cfg["workdir"], "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={cfg['tmpfs_bytes']},mode=0700,uid={cfg['uid']},gid={cfg['uid']}")
    report["masked"] = masked
    report["exposed"] = _expose_python(1 << 20)
    return True


def _isolate_unprivileged(report):
    """Best effort without root: a user namespace may allow a private network namespace."""
    try:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare")
        report["network"] = "namespace"
    except OSError as e:
        report["namespace_error"] = str(e)


def _set_limits(cfg):
    limits = {resource.RLIMIT_CPU: cfg["cpu_seconds"], resource.RLIMIT_AS: cfg["memory_bytes"],
              resource.RLIMIT_FSIZE: cfg["file_size_bytes"], resource.RLIMIT_NOFILE: cfg["nofile"],
              resource.RLIMIT_CORE: 0}
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
        data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def main():
    cfg_fd = int(sys.argv[1])
    with os.fdopen(cfg_fd, "rb") as f:
        cfg = json.loads(f.read())
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
    # A fresh interpreter that never loaded ctypes: a cached _ctypes extension could be revived from Python
    # (`_imp.create_dynamic`) without any audit event, and it reads and writes arbitrary memory.
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", cfg["stage_two_source"], str(config_fd)])


if __name__ == "__main__":
    main()
