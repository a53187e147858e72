"""Stage two of a sandboxed child: switch to the sandbox uid, then run the source as `__main__`.

Never imported by the host: `_sandbox_setup.py` execs `python -I -S -c <this file's text> FD`, FD being a
memfd with the JSON configuration. This interpreter never loads ctypes. Switching uid here, not in stage one,
also makes this very process non-dumpable (the kernel resets "dumpable" when credentials change, to
/proc/sys/fs/suid_dumpable, 0 by default): other processes of the sandbox uid cannot ptrace it or read its
memory. It then writes one line describing the isolation to the channel, before any untrusted code runs,
so the host can trust that first line.
"""

import json
import os
import sys


def _drop_privileges(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid:
        raise OSError("privilege drop did not take effect")


def _block_sockets():
    """Fallback when no network namespace exists: a Python-level shim (bypassable via ctypes, see docs)."""
    import _socket
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError("network access is disabled in the sandbox")

    class NoSocket:
        def __new__(cls, *args, **kwargs):
            refuse()

    for module in (socket, _socket):
        for name in ("socket", "SocketType"):
            setattr(module, name, NoSocket)
        for name in ("socketpair", "create_connection", "create_server", "getaddrinfo", "fromfd"):
            if hasattr(module, name):
                setattr(module, name, refuse)


def main():
    with os.fdopen(int(sys.argv[1]), "rb") as f:
        cfg = json.loads(f.read())
    sys.argv[:] = ["<sandbox>"]
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # never import from the working directory
    sys.path.extend(d for d in cfg["site_dirs"] if d not in sys.path)  # started with -S: no .pth hooks run
    sys.dont_write_bytecode = True
    report, channel = cfg["report"], cfg["channel_fd"]
    if cfg["uid"] is not None:
        _drop_privileges(cfg["uid"])
        report["uid"] = cfg["uid"]
    if os.getppid() != cfg["parent_pid"]:  # the host died (PDEATHSIG does not survive the uid switch)
        os._exit(70)
    if report["network"] != "namespace":
        _block_sockets()
    os.write(channel, json.dumps({"sandbox": report}).encode() + b"\n")
    namespace = {
        "__name__": "__main__",
        "__builtins__": __builtins__,
        "SANDBOX_PAYLOAD": cfg.pop("payload").encode("latin-1"),
        "SANDBOX_CHANNEL": channel,
    }
    source = cfg.pop("source")
    del cfg  # keep the payload (it may hold a secret) out of this frame's locals while the source runs
    exec(compile(source, "<sandbox>", "exec"), namespace)


if __name__ == "__main__":
    main()
