"""Weight storage formats, their plain-torch definitions, and the compiled C step that uses them.

A weight matrix W (N, K) — N outputs, K inputs, nn.Linear's layout — is stored in one of:

| precision | bytes per weight | stored as                                                     | W is recovered as          |
|-----------|------------------|---------------------------------------------------------------|----------------------------|
| fp32      | 4                | W itself                                                      | W                          |
| bf16      | 2                | W rounded to bfloat16 (the top 16 bits of each fp32)          | float(W_bf16)              |
| int8      | 1.125            | q (N, K) int8 in [-127, 127]; per group of 32 inputs a scale  | q · scale_g                |
|           |                  | scale_g = max|W_g| / 127 (llama.cpp's Q8_0, fp32 scales)      |                            |
| int4      | 0.75             | q (N, K) in [0, 15] packed two per byte; per group of 32      | q · scale_g + minimum_g    |
|           |                  | inputs a scale and a minimum: scale_g = (max - min) / 15      |                            |
|           |                  | (llama.cpp's Q4_1, fp32 scales)                               |                            |

Activations, sums and the KV cache stay fp32 in every precision ("weight-only" quantization):
only the weights lose bits. A batch-1 decode step streams every weight from memory once per
token, so fewer bytes per weight is what makes it faster.

`dequantize(packed)` is the reference: the tests check that the C kernel computes exactly
`x @ dequantize(packed).T` (to fp32 rounding), and that one-hot inputs read back
`dequantize(packed)` exactly.

The C source (`_decode.c`, which includes the kernels `_kernels.h`, beside this file) is compiled
once with gcc into
`$LLMPG_HOME/kernels/` (or `$LLMPG_KERNELS_DIR`), keyed by a hash of the source, the compiler
and the instruction set; later processes load the cached library in milliseconds. It is compiled
once per instruction set (`ISAS`: avx512, avx2 with FMA, portable C that the compiler vectorizes
for SSE2 or ARM NEON) and `load_library()` loads the best one this CPU runs, or the one forced with
`LLMPG_KERNELS=avx512|avx2|portable`; it returns None, with the reason in `library_status()`, where
the compiler is missing or the forced path cannot run here, and the callers fall back to plain torch.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "int8", "int4")
FORMAT_CODES = {"fp32": 0, "bf16": 1, "int8": 2, "int4": 3}
GROUP = 32  # int4: inputs per group sharing one scale and one minimum
SOURCE = Path(__file__).with_name("_decode.c")
KERNEL_SOURCES = (SOURCE, SOURCE.with_name("_kernels.h"))
"""Every file the library is compiled from (the step includes the kernels): all go into the cache key."""


# --- the formats, in plain torch ----------------------------------------------------------
@dataclass
class PackedWeight:
    """One weight matrix (N, K) in one storage format (see the module docstring)."""

    precision: str
    n_out: int
    n_in: int
    data: torch.Tensor
    """fp32 (N, K) | int16 bit patterns of bf16 (N, K) | int8 (N, K) | uint8 (N, K/2)."""
    scale: torch.Tensor | None = None
    """int8, int4: (N, K/32), one per group of 32 inputs. fp32."""
    minimum: torch.Tensor | None = None
    """int4: (N, K/32). fp32."""
    lossless: bool = False
    """True when `dequantize(self)` equals the packed matrix bit for bit (always for fp32; for the
    others when the weights were already on the format's grid, e.g. dequantized from a GGUF)."""

    @property
    def nbytes(self) -> int:
        """Bytes streamed from memory when this matrix is applied once."""
        return sum(t.numel() * t.element_size() for t in (self.data, self.scale, self.minimum) if t is not None)


def pack(weight: torch.Tensor, precision: str) -> PackedWeight:
    """Store `weight` (N, K) fp32 in `precision`; K must be a multiple of 32 (the C kernel's step)."""
    weight = weight.detach().float().contiguous()
    N, K = weight.shape
    if K % GROUP:
        raise ValueError(f"the fast kernels need input widths that are multiples of {GROUP} (got {K})")
    if precision == "fp32":
        return PackedWeight("fp32", N, K, weight, lossless=True)
    if precision == "bf16":
        return _checked(PackedWeight("bf16", N, K, weight.to(torch.bfloat16).view(torch.int16).contiguous()), weight)
    if precision == "int8":
        groups = weight.view(N, K // GROUP, GROUP)                    # (N, G, 32)
        scale = _shipped_scale(groups.abs().amax(dim=-1) / 127.0,     # (N, G) one scale per group
                               lambda scale: torch.round(groups / scale[..., None]).clamp(-127, 127) * scale[..., None],
                               groups)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group stays zero
        q = torch.round(groups / safe[..., None]).clamp(-127, 127).to(torch.int8)
        return _checked(PackedWeight("int8", N, K, q.reshape(N, K).contiguous(), scale=scale.contiguous()), weight)
    if precision == "int4":
        groups = weight.view(N, K // GROUP, GROUP)                    # (N, G, 32)
        low, high = groups.amin(dim=-1), groups.amax(dim=-1)          # (N, G)
        scale = _shipped_scale((high - low) / 15.0,
                               lambda scale: torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
                               * scale[..., None] + low[..., None], groups)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant group: q = 0, w = minimum
        q = torch.round((groups - low[..., None]) / safe[..., None]).clamp(0, 15).to(torch.uint8)  # (N, G, 32)
        packed = q[..., :16] | (q[..., 16:] << 4)                     # (N, G, 16): k and k+16 share a byte
        return _checked(PackedWeight("int4", N, K, packed.reshape(N, K // 2).contiguous(),
                                     scale=scale.contiguous(), minimum=low.contiguous()), weight)
    raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def _shipped_scale(scale: torch.Tensor, rebuild, groups: torch.Tensor) -> torch.Tensor:
    """Per group, the scale rounded to fp16 where that rebuilds the group exactly, else `scale`.

    GGUF's Q8_0 and Q4_1 blocks (32 weights, as our groups) store their scale (and Q4_1 its minimum)
    in fp16: w = d·q (+ m). Weights dequantized from such a file (the zoo's fp32 SmolLM2) have
    max|w| = 127·d, or min = m and max = 15·d + m, so the scale computed from them is d up to an
    fp32 rounding, and rounding it to fp16 recovers d itself: then every weight is rebuilt bit for bit
    (`rebuild(scale)` computes the group as `dequantize` would)."""
    candidate = scale.half().float()
    candidate = torch.where(candidate > 0, candidate, torch.ones_like(candidate))
    exact = (rebuild(candidate) == groups).all(dim=-1)
    return torch.where(exact & (scale > 0), candidate, scale)


def _checked(packed: PackedWeight, weight: torch.Tensor) -> PackedWeight:
    packed.lossless = bool(torch.equal(dequantize(packed), weight))
    return packed


def dequantize(packed: PackedWeight) -> torch.Tensor:
    """The fp32 matrix (N, K) that `packed` stands for: what every kernel multiplies by."""
    N, K = packed.n_out, packed.n_in
    if packed.precision == "fp32":
        return packed.data
    if packed.precision == "bf16":
        return packed.data.view(torch.bfloat16).float()
    if packed.precision == "int8":
        return (packed.data.view(N, K // GROUP, GROUP).float() * packed.scale[..., None]).reshape(N, K)
    if packed.precision == "int4":
        nibbles = packed.data.view(N, K // GROUP, 16)
        q = torch.cat((nibbles & 15, nibbles >> 4), dim=-1).float()  # (N, G, 32) back in k order
        return (q * packed.scale[..., None] + packed.minimum[..., None]).reshape(N, K)
    raise ValueError(f"unknown precision {packed.precision!r}")


def reference_linear(x: torch.Tensor, packed: PackedWeight) -> torch.Tensor:
    """x (M, K) @ Wᵀ → (M, N) in plain torch, W = dequantize(packed)."""
    return x @ dequantize(packed).T


# --- the compiled library ------------------------------------------------------------------
class CLinear(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int32), ("n_out", ctypes.c_int32), ("n_in", ctypes.c_int32),
                ("pad", ctypes.c_int32), ("weight", ctypes.c_void_p), ("scale", ctypes.c_void_p),
                ("minimum", ctypes.c_void_p)]


def c_linear(packed: PackedWeight) -> CLinear:
    """The C view of a packed matrix (the tensors must outlive it: keep `packed` referenced)."""
    pointer = lambda t: t.data_ptr() if t is not None else None  # noqa: E731
    return CLinear(FORMAT_CODES[packed.precision], packed.n_out, packed.n_in, 0,
                   packed.data.data_ptr(), pointer(packed.scale), pointer(packed.minimum))


ISAS = ("avx512", "avx2", "portable")
"""The instruction sets the kernels are compiled for, best first (see `_kernels.h`)."""
ISA_FLAGS = {
    "avx512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"],
    "avx2": ["-mavx2", "-mfma", "-mf16c"],
    "portable": [],  # the compiler's baseline: SSE2 on x86-64, NEON on aarch64
}
ISA_CPU_FLAGS = {"avx512": {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "f16c"},
                 "avx2": {"avx2", "fma", "f16c"}, "portable": set()}
ISA_ENV = "LLMPG_KERNELS"
"""Environment variable that forces one path: avx512, avx2 or portable (unset or `auto`: the best this CPU runs)."""

_libraries: dict[str, ctypes.CDLL] = {}
_failures: dict[str, str] = {}
_status = "not loaded yet"
call_lock = threading.Lock()
"""Held around every call into a library: its thread pool serves one caller at a time (ctypes
releases the GIL, so two Python threads — two web sessions — could otherwise enter together)."""


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def supported_isas() -> list[str]:
    """The kernel paths this CPU can run, best first (portable runs everywhere gcc does)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ["portable"]
    flags = _cpu_flags()
    return [isa for isa in ISAS if ISA_CPU_FLAGS[isa] <= flags]


def selected_isa() -> str:
    """The path `load_library()` uses: `$LLMPG_KERNELS` if set (and not `auto`), else the best supported."""
    forced = os.environ.get(ISA_ENV, "").strip().lower()
    if forced and forced != "auto":
        if forced not in ISAS:
            raise ValueError(f"{ISA_ENV}={forced!r} is not a kernel path; choose one of auto, {', '.join(ISAS)}")
        return forced
    return supported_isas()[0]


def kernels_dir() -> Path:
    """Where compiled libraries are cached: `$LLMPG_KERNELS_DIR`, else `$LLMPG_HOME/kernels`."""
    from llm_playground import runtime

    return Path(os.environ.get("LLMPG_KERNELS_DIR") or runtime.home() / "kernels")


def _compile(target: Path, isa: str = "portable") -> None:
    """gcc → a temporary file in the cache folder → os.replace (atomic: a half-written library is never loaded)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        command = ["gcc", "-O3", *ISA_FLAGS[isa], "-mtune=native", "-ffp-contract=off", "-Wno-psabi", "-shared",
                   "-fPIC", "-pthread", str(SOURCE), "-o", str(built), "-lm"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"gcc failed: {result.stderr.strip()[-2000:]}")
        os.replace(built, target)


def _library_path(isa: str) -> Path:
    compiler = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    text = "".join(path.read_text() for path in KERNEL_SOURCES) + "|".join(compiler) + " ".join(ISA_FLAGS[isa])
    return kernels_dir() / f"llmpg_decode_{isa}_{hashlib.sha256(text.encode()).hexdigest()[:16]}.so"


def load_library(isa: str | None = None) -> ctypes.CDLL | None:
    """The compiled step for `isa` (default: `selected_isa()`), compiled on first use and cached;
    None, with the reason in `library_status()`, where it cannot be built or run here."""
    global _status
    try:
        isa = isa or selected_isa()
    except ValueError as error:
        _status = str(error)
        return None
    if isa in _libraries:
        _status = f"{isa} kernels ({_libraries[isa]._name})"
        return _libraries[isa]
    if isa in _failures:
        _status = _failures[isa]
        return None
    if isa not in supported_isas():
        missing = " and ".join(sorted(ISA_CPU_FLAGS.get(isa, {"?"}) - _cpu_flags())) or platform.machine()
        _status = (f"this CPU cannot run the {isa} kernels (no {missing}); "
                   f"it runs: {', '.join(supported_isas())}")
        return None  # not remembered: a test may force another path next
    if shutil.which("gcc") is None:
        _status = "gcc is not installed (the fast kernels are compiled on first use)"
        return None
    try:
        target = _library_path(isa)
        if not target.exists():
            _compile(target, isa)
        library = ctypes.CDLL(str(target))
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        _failures[isa] = _status = f"could not build the {isa} fast kernels: {error}"
        return None
    library.linear.argtypes = [ctypes.POINTER(CLinear), ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_int]
    library.linear.restype = None
    library.kernels_isa.restype = ctypes.c_char_p
    library.linear_repeat.argtypes = library.linear.argtypes + [ctypes.c_int]
    library.linear_repeat.restype = None
    compiled_for = library.kernels_isa().decode()
    if compiled_for != isa:  # the preprocessor chose another branch than the flags promised
        _failures[isa] = _status = f"the {isa} build came out as {compiled_for} kernels"
        return None
    _libraries[isa] = library
    _status = f"{isa} kernels ({target})"
    return library


def library_status() -> str:
    """Which kernel path is in use (or why none is), in one line."""
    return _status


def kernels_summary() -> dict:
    """For `llmpg doctor`: the path in use (or that will be, once compiled), the paths this CPU runs,
    and how to force one. Compiles nothing."""
    try:
        isa = selected_isa()
    except ValueError as error:
        return {"in_use": None, "supported": supported_isas(), "status": str(error), "force_with": _FORCE}
    if isa in _libraries:
        status = f"loaded in this process"
    elif isa not in supported_isas():
        status = f"forced with {ISA_ENV}, but this CPU cannot run it (fast engines fall back to plain torch)"
    elif shutil.which("gcc") is None:
        status = "gcc is not installed: the fast engines run plain torch"
    else:
        status = "compiled, cached" if _library_path(isa).exists() else "compiled on first use (about 30 s)"
    return {"in_use": isa, "supported": supported_isas(), "status": status, "force_with": _FORCE}


_FORCE = f"{ISA_ENV}={'|'.join(ISAS)}"


def kernel_linear(x: torch.Tensor, packed: PackedWeight, threads: int | None = None,
                  isa: str | None = None) -> torch.Tensor:
    """x (M, K) @ Wᵀ → (M, N) through the C kernel of path `isa` (default: the selected one);
    raises RuntimeError where it is unavailable."""
    library = load_library(isa)
    if library is None:
        raise RuntimeError(library_status())
    x = x.detach().float().contiguous()
    M, K = x.shape
    if K != packed.n_in:
        raise ValueError(f"x has {K} features, the weight expects {packed.n_in}")
    y = torch.empty(M, packed.n_out)
    xsum = torch.empty(M, K // GROUP)
    with call_lock:
        library.linear(ctypes.byref(c_linear(packed)), x.data_ptr(), M, y.data_ptr(), xsum.data_ptr(),
                       threads or torch.get_num_threads())
    return y


def time_linear(packed: PackedWeight, repeats: int, threads: int = 1, rows: int = 1, isa: str | None = None,
                clock: str = "wall") -> float:
    """Seconds per application of `packed` to `rows` random inputs through the C kernel (best of 3
    timings of `repeats` back-to-back calls, made inside C). A small matrix stays in the caches
    between calls; one much larger than the last-level cache is streamed from memory every call:
    comparing the two says whether the kernel waits for memory or computes.

    clock="cpu" (one thread only) counts the calling thread's CPU time instead of wall time: on a
    shared machine it leaves out the time other processes held the core (a thread stalled on
    memory is still on the CPU, so memory waits are counted)."""
    import time

    if clock not in ("wall", "cpu") or (clock == "cpu" and threads != 1):
        raise ValueError("clock must be 'wall', or 'cpu' with threads=1")
    now = time.perf_counter if clock == "wall" else time.thread_time
    library = load_library(isa)
    if library is None:
        raise RuntimeError(library_status())
    x = torch.randn(rows, packed.n_in)
    y, xsum = torch.empty(rows, packed.n_out), torch.empty(rows, packed.n_in // GROUP)
    arguments = (ctypes.byref(c_linear(packed)), x.data_ptr(), rows, y.data_ptr(), xsum.data_ptr(), threads)
    best = float("inf")
    with call_lock:
        library.linear_repeat(*arguments, 1)  # warm: pages faulted in, small matrices cached
        for _ in range(3):
            started = now()
            library.linear_repeat(*arguments, repeats)
            best = min(best, (now() - started) / repeats)
    return best
