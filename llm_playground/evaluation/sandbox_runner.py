"""Inside the sandbox: lock this process down, then run the untrusted program. Standard library only.

Started by `sandbox.run_sandboxed` as `python -I -S sandbox_runner.py CONFIG.json` in a new session,
with stdout/stderr going to files the parent opened. Before a single line of the program runs, in
this order (each step only where the config asks for it and the kernel allows it):

1. a new network namespace (`unshare(CLONE_NEWNET)`, needs root): only a loopback that is down;
2. `no_new_privs`, then Landlock: writing, creating, removing or renaming files is allowed only under
   the private temporary directory, reading only there and in Python's and the system's libraries;
   TCP bind/connect denied (ABI ≥ 4); signals and abstract Unix sockets scoped to the sandbox (ABI ≥ 6);
3. resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
4. a fresh unprivileged uid/gid (when started as root): no capabilities, RLIMIT_NPROC now counts
   only the sandbox's own processes, and file permissions apply;
5. a Python audit hook that refuses sockets, subprocesses, os.system/exec/fork, signals, ctypes and
   file writes outside the temporary directory (a clear error instead of a silent OS refusal).

The program passes when it runs to its end: the runner then prints a line with a nonce the program
was never given. Exceptions (and an early SystemExit) are failures with their traceback on stderr.
"""
import ctypes
import json
import os
import resource
import sys
import traceback

CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS, PR_SET_KEEPCAPS = 38, 8
CAP_DAC_READ_SEARCH = 2
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
# Landlock filesystem rights (uapi/linux/landlock.h); executing is not restricted (reading the file is).
FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 1, 1 << 2, 1 << 3
FS_WRITE_RIGHTS_V1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make *
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(0, int(version))


READABLE_ROOTS = ("/usr", "/lib", "/lib64", "/bin", "/etc/localtime", "/dev/urandom")
"""Besides Python's own installation and the temporary directory, what the program may read."""


def landlock(temporary: str, abi: int) -> list:
    """Restrict this process and its children: read only Python, the system's libraries and the
    temporary directory; write only in the temporary directory; (ABI ≥ 4) no TCP; (ABI ≥ 6) no
    signals or abstract sockets beyond the sandbox. Returns what is enforced, in words."""
    write = FS_WRITE_RIGHTS_V1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) \
        | (FS_IOCTL_DEV if abi >= 5 else 0)
    read = FS_READ_FILE | FS_READ_DIR
    attr = RulesetAttr(write | read, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                       SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    file_rights = FS_READ_FILE | FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)
    rules = [(temporary, write | read), ("/dev/null", file_rights)]
    rules += [(os.path.realpath(path), read) for path in (sys.base_prefix, *READABLE_ROOTS)]
    for path, allowed in rules:
        if not os.path.exists(path):
            continue
        if not os.path.isdir(path):
            allowed &= file_rights
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = PathBeneathAttr(allowed, fd)
        if libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
        os.close(fd)
    if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)
    enforced = ["landlock: writes only in the temporary directory; reads only there, in Python and system libraries"]
    if abi >= 4:
        enforced.append("landlock: TCP bind/connect denied")
    if abi >= 6:
        enforced.append("landlock: signals and abstract sockets scoped to the sandbox")
    return enforced


BLOCKED_EVENTS = {
    "socket.__new__": "opening a socket", "socket.connect": "connecting a socket", "socket.bind": "binding a socket",
    "socket.getaddrinfo": "resolving a host name", "os.system": "os.system", "os.exec": "os.exec*",
    "os.posix_spawn": "os.posix_spawn", "os.spawn": "os.spawn*", "subprocess.Popen": "starting a subprocess",
    "os.fork": "os.fork", "os.forkpty": "os.forkpty", "os.kill": "sending a signal", "os.killpg": "sending a signal",
    "ctypes.dlopen": "loading a C library", "ctypes.dlsym": "calling into C", "ctypes.call_function": "calling into C",
    "os.putenv": "changing the environment", "os.chdir": "leaving the temporary directory",
}
WRITE_EVENTS = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link", "os.truncate",
                "shutil.rmtree", "shutil.move", "shutil.copyfile", "os.chmod", "os.chown", "os.utime"}


def install_audit_hook(temporary: str) -> None:
    temporary = os.path.realpath(temporary)
    realpath, fspath = os.path.realpath, os.fspath

    def inside(path) -> bool:
        try:
            resolved = realpath(fspath(path)) if not isinstance(path, int) else temporary
        except (TypeError, ValueError):
            return False
        return resolved == temporary or resolved.startswith(temporary + os.sep) or resolved == "/dev/null"

    def hook(event, args):
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {BLOCKED_EVENTS[event]} is not allowed ({event})")
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
            if writing and path is not None and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the temporary directory is not allowed")
        elif event in WRITE_EVENTS and args and not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes))):
            raise PermissionError(f"sandbox: {event} outside the temporary directory is not allowed")

    sys.addaudithook(hook)


def lock_down(config: dict) -> list:
    """Apply every layer the config asks for, in order; return the ones in force."""
    layers = ["separate process in its own session", "private temporary directory (cwd, HOME, TMPDIR)"]
    temporary = config["temporary"]
    if config.get("network") and libc.unshare(CLONE_NEWNET) == 0:
        layers.append("network namespace: no network")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if config.get("landlock"):
        abi = landlock_abi()
        if abi:
            layers += landlock(temporary, abi)
    limits = config["limits"]
    mib = 1024 * 1024
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the soft limit, SIGKILL a second later
    for name, value in (("RLIMIT_CORE", 0),
                        ("RLIMIT_FSIZE", limits["file_size_mb"] * mib), ("RLIMIT_NOFILE", limits["open_files"]),
                        ("RLIMIT_AS", limits["memory_mb"] * mib), ("RLIMIT_NPROC", config["nproc"])):
        resource.setrlimit(getattr(resource, name), (value, value))
    layers.append(f"limits: {limits['cpu_seconds']} s CPU, {limits['memory_mb']} MiB address space, "
                  f"{limits['file_size_mb']} MiB files, {limits['open_files']} open files, "
                  f"{limits['max_processes']} processes")
    if config.get("uid") is not None:
        keep_read = not stdlib_world_readable()
        if keep_read:
            libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
        if keep_read:  # Python's standard library lives where only root may look (/root/.pyenv)
            keep_only_capability(CAP_DAC_READ_SEARCH)
            layers.append(f"unprivileged uid {config['uid']} (one capability kept: reading any file, "
                          "so that it can import the standard library)")
        else:
            layers.append(f"unprivileged uid {config['uid']} (no capabilities)")
    return layers


def stdlib_world_readable() -> bool:
    """Whether any user may traverse to the standard library (every directory on the way has o+x)."""
    import stat

    path = os.path.dirname(os.__file__)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def keep_only_capability(capability: int) -> None:
    """After setuid with PR_SET_KEEPCAPS: permitted and effective = {capability}, nothing inheritable."""
    header = CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (CapData * 2)(CapData(1 << capability, 1 << capability, 0), CapData(0, 0, 0))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as stream:
        config = json.load(stream)
    nonce = config.pop("nonce")
    os.chdir(config["temporary"])
    with open(config["program"], encoding="utf-8") as stream:
        source = stream.read()
    layers = lock_down(config)
    sys.stderr.write("sandbox: " + "; ".join(layers) + "\n")
    sys.stderr.flush()
    if config.get("audit_hook"):
        install_audit_hook(config["temporary"])
    del config
    try:
        code = compile(source, "program.py", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except BaseException:  # noqa: BLE001 — SystemExit too: the program must run to its end
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.write(f"\nllmpg-sandbox-ok {nonce}\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
