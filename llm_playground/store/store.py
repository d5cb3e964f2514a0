"""`ModelStore`: models held once per (model, engine, precision), under a lock, within a memory budget."""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from llm_playground.errors import AssetError, PlaygroundError

GiB = 1024 ** 3


def default_budget_bytes() -> int:
    """`LLMPG_MEMORY_GB` (a number of GiB) if set, else a third of this machine's memory."""
    value = os.environ.get("LLMPG_MEMORY_GB", "").strip()
    if value:
        try:
            gigabytes = float(value)
        except ValueError:
            raise PlaygroundError(f"LLMPG_MEMORY_GB must be a number of GiB such as 4 or 2.5 (got {value!r})") from None
        if gigabytes <= 0:
            raise PlaygroundError(f"LLMPG_MEMORY_GB must be more than 0 (got {value!r})")
        return int(gigabytes * GiB)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        total = 8 * GiB
    return total // 3


def _first_line(error: BaseException) -> str:
    """`Type: first line of the message`, for an error raised inside a third-party loader."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


def tensor_storages(value: Any, _seen: set[int] | None = None, _depth: int = 0) -> Iterator[Any]:
    """Every torch tensor reachable from `value` (a module, dataclass, container or plain object)."""
    import torch

    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > 6 or value is None or isinstance(value, (str, bytes, int, float, bool)):
        return
    seen.add(id(value))
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, torch.nn.Module):
        yield from value.parameters()
        yield from value.buffers()
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensor_storages(item, seen, _depth + 1)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from tensor_storages(item, seen, _depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from tensor_storages(getattr(value, field.name, None), seen, _depth + 1)
    elif hasattr(value, "__dict__") and type(value).__module__.startswith("llm_playground"):
        for item in vars(value).values():
            yield from tensor_storages(item, seen, _depth + 1)


def _storage_sizes(value: Any) -> dict[int, int]:
    """{storage address: bytes} for the tensors `value` holds (a storage shared by views counts once)."""
    sizes: dict[int, int] = {}
    for tensor in tensor_storages(value):
        if tensor.device.type == "meta":
            continue
        storage = tensor.untyped_storage()
        sizes[storage.data_ptr()] = storage.nbytes()
    return sizes


@dataclass
class HeldModel:
    """One entry of the store, as `llmpg doctor` and the page's status line show it."""

    model: str
    engine: str
    """"tokenizer", "transformers", "native", "fast", "encoder", … (who computes with it)."""
    precision: str
    bytes: int
    """Memory of the tensors it holds that no entry loaded before it already counts."""
    load_seconds: float
    last_used: float
    """time.time() of the last `get`."""

    @property
    def label(self) -> str:
        return f"{self.model} ({self.engine}, {self.precision})"

    def to_dict(self) -> dict:
        return {"model": self.model, "engine": self.engine, "precision": self.precision, "bytes": self.bytes,
                "load_seconds": round(self.load_seconds, 3), "last_used": round(self.last_used, 3)}


@dataclass
class _Entry:
    value: Any
    storages: dict[int, int]
    extra_bytes: int
    load_seconds: float
    last_used: float


Key = tuple[str, str, str]


class ModelStore:
    """Models held once per (model, engine, precision); thread-safe; least recently used let go
    when the memory budget is passed."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self._budget = budget_bytes
        self._entries: "OrderedDict[Key, _Entry]" = OrderedDict()  # oldest use first
        self._lock = threading.RLock()  # guards _entries
        self._loading = threading.RLock()  # one load at a time: two at once would double the peak memory
        self.evictions = 0

    @property
    def budget_bytes(self) -> int:
        return self._budget if self._budget is not None else default_budget_bytes()

    def get(self, model: str, engine: str, precision: str, loader: Callable[[], Any], *,
            extra_bytes: Callable[[Any], int] | None = None) -> Any:
        """The held value for (model, engine, precision), loading it with `loader()` on first use.

        `extra_bytes(value)` adds memory that is not in torch tensors (a tokenizer's tables).
        A loader may itself ask the store for another entry (the fast engine asks for the native one).
        """
        key = (model, engine, precision)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return self._touch(key, entry)
        with self._loading:
            with self._lock:  # another thread may have loaded it while this one waited
                entry = self._entries.get(key)
                if entry is not None:
                    return self._touch(key, entry)
            started = time.perf_counter()
            try:
                value = loader()
            except PlaygroundError:
                raise
            except MemoryError:
                raise PlaygroundError(f"not enough memory to load {model} ({engine}, {precision}); close other "
                                      "programs or lower LLMPG_MEMORY_GB so fewer models are held") from None
            except Exception as error:  # a broken file surfaces as any of a dozen library exception types
                raise AssetError(f"could not load {model} ({engine}, {precision}): {_first_line(error)}; "
                                 "check that its files are complete (copy the model folder again)") from None
            entry = _Entry(value=value, storages=_storage_sizes(value),
                           extra_bytes=int(extra_bytes(value)) if extra_bytes else 0,
                           load_seconds=time.perf_counter() - started, last_used=time.time())
            with self._lock:
                self._entries[key] = entry
                self._enforce_budget(keep=key)
            return value

    def _touch(self, key: Key, entry: _Entry) -> Any:
        entry.last_used = time.time()
        self._entries.move_to_end(key)
        return entry.value

    def _enforce_budget(self, keep: Key) -> None:
        while self.total_bytes() > self.budget_bytes:
            victim = next((key for key in self._entries if key != keep and key[1] != "tokenizer"), None)
            if victim is None:
                return
            del self._entries[victim]
            self.evictions += 1

    def total_bytes(self) -> int:
        """Memory held by every entry, each storage counted once."""
        with self._lock:
            storages: dict[int, int] = {}
            for entry in self._entries.values():
                storages.update(entry.storages)
            return sum(storages.values()) + sum(entry.extra_bytes for entry in self._entries.values())

    def held(self) -> list[HeldModel]:
        """What is held, in load order, each with the memory it adds."""
        with self._lock:
            counted: set[int] = set()
            rows = []
            for (model, engine, precision), entry in sorted(self._entries.items(), key=lambda item: item[1].last_used):
                own = sum(size for address, size in entry.storages.items() if address not in counted)
                counted.update(entry.storages)
                rows.append(HeldModel(model=model, engine=engine, precision=precision, bytes=own + entry.extra_bytes,
                                      load_seconds=entry.load_seconds, last_used=entry.last_used))
            return rows

    def holds(self, model: str, engine: str | None = None) -> bool:
        """Whether the store holds `model` (for `engine`, or for any engine but the tokenizer)."""
        with self._lock:
            return any(key[0] == model and (key[1] == engine if engine else key[1] != "tokenizer")
                       for key in self._entries)

    def unload(self, model: str | None = None) -> int:
        """Let go of every entry of `model` (every entry when None); returns how many."""
        with self._lock:
            keys = [key for key in self._entries if model is None or key[0] == model]
            for key in keys:
                del self._entries[key]
            return len(keys)

    def status_line(self) -> str:
        """One line for the page: `held: smollm2-135m-instruct (native, fp32) 538 MB · … — 0.6 of 8.0 GB`."""
        rows = self.held()
        if not any(row.engine not in ("tokenizer", "architecture") for row in rows):
            return f"no model loaded yet (budget {self.budget_bytes / GiB:.1f} GiB, LLMPG_MEMORY_GB)"
        parts = [f"{row.label} {row.bytes / 1e6:,.0f} MB" for row in rows if row.engine not in ("tokenizer", "architecture")]
        return (f"held: {' · '.join(parts) or 'tokenizers only'} — {self.total_bytes() / GiB:.2f} of "
                f"{self.budget_bytes / GiB:.1f} GiB budget (LLMPG_MEMORY_GB)")


models = ModelStore()
"""The process-wide store every face shares."""
