"""The sandbox contains hostile programs: each is stopped and reported as a failure, the machine is
unharmed, and each containment layer is proved on its own (the others switched off)."""
from __future__ import annotations

import os
import socket
import sys

import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.evaluation.sandbox import SandboxLimits, processes_of, run_many, run_sandboxed
from llm_playground.evaluation.sandbox_runner import landlock_abi

LIMITS = SandboxLimits(wall_seconds=3, cpu_seconds=3)
linux_root = pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                                reason="the uid, namespace and Landlock layers need Linux and root")
landlock = pytest.mark.skipif(not sys.platform.startswith("linux") or landlock_abi() < 4,
                              reason="needs Landlock ABI ≥ 4 in this kernel")


@pytest.fixture
def decoy(tmp_path):
    """A world-writable folder outside the sandbox with a file in it: only the sandbox protects it."""
    folder = tmp_path / "decoy"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    os.chmod(folder, 0o777)
    os.chmod(folder / "precious.txt", 0o666)
    os.chmod(tmp_path, 0o755)
    return folder


@pytest.fixture
def listener():
    """A TCP server on a free 127.0.0.1 port; yields (port, accepted() → bool)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)

    def accepted() -> bool:
        try:
            server.accept()[0].close()
            return True
        except socket.timeout:
            return False

    yield server.getsockname()[1], accepted
    server.close()


def test_a_good_program_passes_and_a_failing_one_fails_with_its_reason():
    good = run_sandboxed("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('fine')", LIMITS)
    assert good.passed and good.stdout == "fine" and good.reason == "ran to the end"
    bad = run_sandboxed("assert 1 + 1 == 3, 'arithmetic'", LIMITS)
    assert bad.status == "failed" and bad.reason == "AssertionError: arithmetic"
    early = run_sandboxed("import sys\nsys.exit(0)\nassert False", LIMITS)
    assert not early.passed and "SystemExit" in early.reason  # leaving before the checks is not passing


def test_infinite_loop_is_stopped_by_the_wall_clock():
    result = run_sandboxed("while True:\n    pass", SandboxLimits(wall_seconds=1.5, cpu_seconds=10))
    assert result.status == "timeout" and result.seconds < 5


def test_cpu_limit_kills_a_busy_loop_before_the_wall_clock():
    result = run_sandboxed("while True:\n    pass", SandboxLimits(wall_seconds=20, cpu_seconds=1))
    assert result.status == "killed" and "CPU" in result.reason and result.seconds < 10


def test_ten_gigabytes_cannot_be_allocated():
    result = run_sandboxed("data = bytearray(10 * 1024 ** 3)\ndata[-1] = 1", LIMITS)
    assert result.status == "failed" and result.reason == "MemoryError"


@linux_root
def test_fork_bomb_is_contained_by_the_process_limit_and_nothing_survives():
    """No audit hook here: the OS layers alone (a fresh uid, so RLIMIT_NPROC applies) must hold."""
    bomb = "import os\nwhile True:\n    os.fork()"
    result = run_sandboxed(bomb, SandboxLimits(wall_seconds=3, cpu_seconds=3, max_processes=8), audit_hook=False)
    assert not result.passed
    assert "BlockingIOError" in result.stderr or result.status in ("timeout", "killed")
    assert result.uid is not None and processes_of(result.uid) == []  # every fork was killed


@linux_root
def test_a_detached_child_is_killed_after_the_run():
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\ntime.sleep(0.5)\n"  # child detaches first
    result = run_sandboxed(code, LIMITS, audit_hook=False)
    assert result.passed  # the program itself ended…
    assert result.leftover_processes >= 1 and processes_of(result.uid) == []  # …and its daemon did not survive


@pytest.mark.parametrize("layers", ["all", "os-only"])
def test_writing_outside_the_temporary_directory_is_refused(decoy, layers):
    if layers == "os-only" and (os.geteuid() != 0 and landlock_abi() == 0):
        pytest.skip("no OS layer protects a world-writable folder here (needs root or Landlock)")
    code = f"open({str(decoy / 'pwned.txt')!r}, 'w').write('x')"
    result = run_sandboxed(code, LIMITS, audit_hook=(layers == "all"))
    assert result.status == "failed" and "PermissionError" in result.reason
    assert not (decoy / "pwned.txt").exists()
    inside = run_sandboxed("open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read())", LIMITS)
    assert inside.passed and inside.stdout == "ok"


@pytest.mark.parametrize("layers", ["all", "os-only"])
def test_os_system_rm_rf_on_a_decoy_leaves_it_whole(decoy, layers):
    if layers == "os-only" and landlock_abi() == 0:
        pytest.skip("without Landlock a world-writable decoy is only protected by the audit hook")
    code = f"import os\nstatus = os.system('rm -rf {decoy}')\nassert status == 0, f'rm failed: {{status}}'"
    result = run_sandboxed(code, LIMITS, audit_hook=(layers == "all"))
    assert not result.passed
    assert (decoy / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("layers", ["all", "audit-hook-only", "namespace-only", "landlock-only", "none"])
def test_sockets_cannot_reach_the_machine(listener, layers):
    port, accepted = listener
    switches = {"all": {}, "audit-hook-only": dict(network=False, landlock=False),
                "namespace-only": dict(audit_hook=False, landlock=False),
                "landlock-only": dict(audit_hook=False, network=False),
                "none": dict(audit_hook=False, network=False, landlock=False)}[layers]
    if layers == "namespace-only" and os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if layers == "landlock-only" and landlock_abi() < 4:
        pytest.skip("Landlock TCP rules need ABI ≥ 4")
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).close()"
    result = run_sandboxed(code, LIMITS, **switches)
    if layers == "none":  # the control: the same program does connect when nothing stops it
        assert result.passed and accepted()
        return
    assert result.status == "failed" and not accepted()
    assert ("PermissionError" in result.reason or "unreachable" in result.reason), result.reason


@linux_root
@landlock
def test_private_files_of_the_machine_cannot_be_read():
    result = run_sandboxed("print(open('/etc/shadow').read()[:10])", LIMITS, audit_hook=False)
    assert result.status == "failed" and "PermissionError" in result.reason


def test_output_is_capped_and_many_programs_run_in_parallel():
    loud = run_sandboxed("import sys\nfor _ in range(10_000):\n    sys.stdout.write('x' * 1000)",
                         SandboxLimits(output_kb=4, file_size_mb=1))
    assert len(loud.stdout) <= 4 * 1024 and not loud.passed  # the 1 MiB file limit stopped it (SIGXFSZ)
    results = run_many([f"assert {i} % 2 == 0" for i in range(6)], LIMITS, workers=2)
    assert [r.passed for r in results] == [True, False, True, False, True, False]


def test_limits_are_validated():
    with pytest.raises(PlaygroundError, match="wall_seconds"):
        SandboxLimits(wall_seconds=0)
    with pytest.raises(PlaygroundError, match="memory_mb"):
        SandboxLimits(memory_mb=10)
