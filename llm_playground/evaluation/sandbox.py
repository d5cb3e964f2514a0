"""Run untrusted (model-written) Python in a sandbox that really contains it.

    result = run_sandboxed("assert add(1, 2) == 3", SandboxLimits(wall_seconds=3))
    result.passed, result.status, result.reason

What contains a program (see `sandbox_runner.py` for the order; `containment()` says which layers
this machine supports):
- a separate process (a fresh `python -I -S`) in its own session, killed with its whole process
  group at the wall-clock timeout;
- a private temporary directory as cwd, HOME and TMPDIR, deleted afterwards;
- resource limits: CPU time, address space (a 10 GB allocation fails), file size, open files, processes;
- as root: a fresh unprivileged uid per run. Root ignores RLIMIT_NPROC, so a fork bomb run as root
  is not contained by it; under its own uid the limit counts only the sandbox's processes, and after
  the run every process of that uid is killed (`kill(-1)` from that uid), however it detached itself.
  Where Python's standard library sits under /root (pyenv), the uid keeps one capability,
  CAP_DAC_READ_SEARCH, so that it can import it; Landlock then limits what it may read;
- a network namespace (root): no network at all; Landlock (Linux ≥ 5.13): writes only inside the
  temporary directory, reads only there and in Python's and the system's libraries, no TCP, no
  signals to processes outside;
- a Python audit hook as the last layer: sockets, subprocesses, os.system, fork, signals, ctypes and
  writes outside the temporary directory raise a clear PermissionError.
Output is written to files (capped by the file-size limit) and read back up to `output_kb`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from llm_playground.errors import PlaygroundError

RUNNER = Path(__file__).with_name("sandbox_runner.py")
SANDBOX_UIDS = (1_500_000_000, 1_900_000_000)
"""Range of the throw-away uids (no passwd entry; far above any real account's)."""


@dataclass
class SandboxLimits:
    """What one sandboxed run may use."""

    wall_seconds: float = 5.0
    """Wall-clock timeout; the process group is killed then."""
    cpu_seconds: int = 5
    """RLIMIT_CPU of each process (SIGXCPU, then SIGKILL)."""
    memory_mb: int = 1024
    """RLIMIT_AS of each process: address space, so a 10 GB allocation fails at once."""
    file_size_mb: int = 16
    """RLIMIT_FSIZE: largest file a process may write (also caps its output)."""
    max_processes: int = 8
    """Processes and threads the sandbox may have at once (RLIMIT_NPROC of its own uid)."""
    open_files: int = 64
    output_kb: int = 64
    """How much of stdout and of stderr is read back."""

    def __post_init__(self) -> None:
        for name in ("wall_seconds", "cpu_seconds", "memory_mb", "file_size_mb", "max_processes", "open_files",
                     "output_kb"):
            if getattr(self, name) <= 0:
                raise PlaygroundError(f"sandbox limit {name} must be more than 0 (got {getattr(self, name)})")
        if self.memory_mb < 64:
            raise PlaygroundError(f"sandbox limit memory_mb must be at least 64 (Python needs it; got {self.memory_mb})")


@dataclass
class SandboxResult:
    status: str
    """"passed", "failed" (an exception or a non-zero exit), "timeout", or "killed" (by a signal)."""
    reason: str
    """One line: what happened ("AssertionError", "timed out after 3.0 s", "MemoryError", …)."""
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    containment: list[str] = field(default_factory=list)
    leftover_processes: int = 0
    """Processes of the sandbox's uid found (and killed) after the run."""
    uid: int | None = None
    """The throw-away uid the program ran as (None when not run as root)."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 when unavailable)."""
    if not sys.platform.startswith("linux"):
        return 0
    done = subprocess.run([sys.executable, "-I", "-S", "-c",
                           "import sys; sys.path.insert(0, sys.argv[1]); import sandbox_runner as r; "
                           "print(r.landlock_abi())", str(RUNNER.parent)], capture_output=True, text=True)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def containment() -> dict[str, str]:
    """Which layers this machine gives the sandbox, in words (for `llmpg doctor`-style display)."""
    abi = landlock_abi()
    root = is_root()
    return {
        "process": "separate python -I -S process, own session, killed with its group at the timeout",
        "limits": "RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC, no core dumps",
        "uid": "a fresh unprivileged uid per run" if root else
               "not root: runs as this user (RLIMIT_NPROC counts all of this user's processes)",
        "network": "network namespace (no network)" if root else "audit hook only (not root: no namespace)",
        "filesystem": f"Landlock ABI {abi}: writes only in the temporary directory, reads only there and in "
                      "Python's and the system's libraries" if abi else
                      "no Landlock: file permissions" + (" of the fresh uid" if root else "") + " and the audit hook",
        "audit hook": "sockets, subprocesses, os.system, fork, signals, ctypes, writes outside the temp dir refused",
    }


def processes_of(uid: int) -> list[int]:
    """Ids of the live processes whose real uid is `uid` (from /proc; zombies, already dead, are left out)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as stream:
                fields = dict(line.split(":", 1) for line in stream if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid and not fields.get("State", "").strip().startswith(("Z", "X")):
            pids.append(int(entry))
    return pids


def _kill_uid(uid: int, gid: int) -> int:
    """Kill every process of the sandbox's uid; returns how many there were. `kill(-1, SIGKILL)`
    from that uid reaches all of them at once (a fork bomb cannot outrun it), and nothing else."""
    found = len(processes_of(uid))
    for _ in range(20):
        if not processes_of(uid):
            break
        subprocess.run([sys.executable, "-I", "-S", "-c",
                        f"import os; os.setgroups([]); os.setgid({gid}); os.setuid({uid}); os.kill(-1, 9)"],
                       capture_output=True, timeout=10)
        time.sleep(0.02)
    return found


def _reason(status: str, returncode: int | None, stderr: str, limits: SandboxLimits) -> str:
    if status == "timeout":
        return f"timed out after {limits.wall_seconds:g} s (wall clock)"
    if status == "killed":
        name = signal.Signals(-returncode).name if returncode and -returncode in signal.Signals._value2member_map_ else str(returncode)
        hint = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)", "SIGKILL": " (killed)"}.get(name, "")
        return f"killed by {name}{hint}"
    if status == "passed":
        return "ran to the end"
    lines = [line for line in stderr.strip().splitlines() if line.strip() and not line.startswith("sandbox: ")]
    return lines[-1].strip()[:300] if lines else f"exit status {returncode}"


def run_sandboxed(code: str, limits: SandboxLimits | None = None, *, audit_hook: bool = True, network: bool = True,
                  landlock: bool = True, separate_uid: bool = True) -> SandboxResult:
    """Run `code` (a whole Python program) in the sandbox and say whether it ran to its end.

    The switches turn single layers off, so the tests can prove each layer on its own.
    """
    limits = limits or SandboxLimits()
    temporary = Path(tempfile.mkdtemp(prefix="llmpg-sandbox-"))
    private = Path(tempfile.mkdtemp(prefix="llmpg-sandbox-io-"))  # config and output: the program cannot read it
    uid = gid = None
    if separate_uid and is_root():
        uid = gid = SANDBOX_UIDS[0] + secrets.randbelow(SANDBOX_UIDS[1] - SANDBOX_UIDS[0])
        os.chown(temporary, uid, gid)
    nproc = limits.max_processes if uid is not None or is_root() else len(processes_of(os.getuid())) + limits.max_processes
    program = temporary / "program.py"
    program.write_text(code, encoding="utf-8")
    nonce = secrets.token_hex(16)
    config = {"temporary": str(temporary), "program": str(program), "nonce": nonce, "uid": uid, "gid": gid,
              "nproc": nproc, "network": network, "landlock": landlock, "audit_hook": audit_hook,
              "limits": asdict(limits)}
    (private / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if uid is not None:
        os.chown(program, uid, gid)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(temporary), "TMPDIR": str(temporary), "LANG": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8"}
    started = time.perf_counter()
    status = "failed"
    with open(private / "stdout", "wb") as out, open(private / "stderr", "wb") as err:
        process = subprocess.Popen([sys.executable, "-I", "-S", str(RUNNER), str(private / "config.json")],
                                   cwd=temporary, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True, close_fds=True)
        try:
            returncode = process.wait(timeout=limits.wall_seconds + 0.5)  # + interpreter start-up
        except subprocess.TimeoutExpired:
            status = "timeout"
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            returncode = process.wait()
    seconds = time.perf_counter() - started
    try:
        os.killpg(process.pid, signal.SIGKILL)  # children left in the group
    except (ProcessLookupError, PermissionError):
        pass
    leftovers = _kill_uid(uid, gid) if uid is not None else 0
    stdout = _read(private / "stdout", limits.output_kb)
    stderr = _read(private / "stderr", limits.output_kb)
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.rmtree(private, ignore_errors=True)
    if status != "timeout":
        if returncode == 0 and stdout.rstrip().endswith(f"llmpg-sandbox-ok {nonce}"):
            status = "passed"
            stdout = stdout.rstrip()[:-len(f"llmpg-sandbox-ok {nonce}")].rstrip("\n")
        elif returncode is not None and returncode < 0:
            status = "killed"
    layers = next((line[len("sandbox: "):].split("; ") for line in stderr.splitlines() if line.startswith("sandbox: ")), [])
    if audit_hook and layers:
        layers.append("audit hook")
    return SandboxResult(status=status, reason=_reason(status, returncode, stderr, limits), returncode=returncode,
                         stdout=stdout, stderr=stderr, seconds=seconds, containment=layers, leftover_processes=leftovers,
                         uid=uid)


def _read(path: Path, kilobytes: int) -> str:
    with open(path, "rb") as stream:
        data = stream.read(kilobytes * 1024)
    return data.decode("utf-8", errors="replace")


def run_many(programs: list[str], limits: SandboxLimits | None = None, *, workers: int = 2,
             progress: Callable[[int, int], None] | None = None, **switches) -> list[SandboxResult]:
    """Run several programs, `workers` sandboxes at a time, results in input order."""
    results: list[SandboxResult | None] = [None] * len(programs)
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(run_sandboxed, program, limits, **switches): index
                   for index, program in enumerate(programs)}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += 1
            if progress:
                progress(done, len(programs))
    return results  # type: ignore[return-value]
