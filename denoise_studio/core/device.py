"""Where a network runs: device choice, free memory and out-of-memory detection.

The order of preference is CUDA, then Apple's MPS, then the CPU. ``"auto"`` picks the first one
present; any other name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is honoured if it
exists and refused with a clear message otherwise. torch is imported inside the functions so
that importing this module stays cheap.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

AUTO = "auto"


class DeviceError(RuntimeError):
    """The requested device does not exist on this machine (a message for the user)."""


def available_devices() -> list[str]:
    """The devices present, best first; ``"cpu"`` is always last."""
    import torch

    found: list[str] = []
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def best_device() -> str:
    """CUDA if present, else MPS, else the CPU."""
    return available_devices()[0].replace("cuda:0", "cuda")


def resolve_device(requested: str | None = AUTO) -> str:
    """Turn a request (``None``/``"auto"`` or a torch device name) into a usable device name.

    Raises
    ------
    DeviceError
        When the named device is not present (for example ``"cuda"`` on a machine without one).
    """
    import torch

    if requested is None or requested == "" or requested == AUTO:
        return best_device()
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {requested!r} asked for, but CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {requested!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError("device 'mps' asked for, but MPS is not available here")
    elif dev.type != "cpu":
        raise DeviceError(f"unsupported device {requested!r}; use auto, cpu, cuda, cuda:N or mps")
    return str(dev)


def available_memory(device: str) -> int:
    """Bytes that a new allocation may reasonably use on ``device``.

    CUDA reports its free memory directly. For the CPU this is the kernel's ``MemAvailable``
    (or free physical pages where there is no ``/proc``). MPS shares the system memory.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free)
    return _system_available_memory()


def _system_available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 1024**3  # an unknown platform: assume a modest 4 GiB


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the out-of-memory errors of CUDA, MPS and the CPU allocator."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, (RuntimeError, MemoryError)):
        text = str(exc).lower()
        return isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text
    return False


def release_cached_memory(device: str) -> None:
    """Return cached allocator blocks to the device after an out-of-memory error."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    elif dev.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def make_generator(device: str, seed: int) -> torch.Generator:
    """A seeded torch generator on ``device`` (CPU generators serve MPS, which has none of its own)."""
    import torch

    dev = torch.device(device)
    gen = torch.Generator(device=dev if dev.type == "cuda" else "cpu")
    gen.manual_seed(int(seed))
    return gen


def torch_threads() -> int | None:
    """torch's CPU threads now, or ``None`` when torch is not loaded (a classical run)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def set_torch_threads(threads: int) -> None:
    """Set torch's CPU threads for the runs started from now on (each run has its own thread,
    which takes the process's setting when it first runs a torch operation)."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(int(threads))


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, as ``taskset`` sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
