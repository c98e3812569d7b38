"""What a run will cost, known before it starts: memory, time, and whether to go ahead.

Each method answers :meth:`~denoise_studio.core.method.Method.estimate_cost` for an image
shape and its parameters; :func:`judge` compares the answer with the memory that is free and
says ``ok``, ``warn`` (ask the user first) or ``refuse`` (it cannot fit: say why and what would).
The figures are rough on purpose (measured per-pixel rates of the development CPU, see
``docs/BENCHMARKS.md``): they tell a 12-megapixel run that needs 40 GB from one that needs 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GB = 1 << 30
WARN_MEMORY_SHARE = 0.5  # warn when a run wants more than this share of the free memory
REFUSE_MEMORY_SHARE = 0.9  # refuse above this share (the rest is the window, the OS, the cache)
WARN_SECONDS = 300.0  # warn about runs expected to take longer than five minutes


@dataclass(frozen=True)
class CostEstimate:
    """Peak working memory (bytes) and wall time (seconds, None when unknown) of one run."""

    memory_bytes: int
    seconds: float | None = None
    tiled: bool = False  # processed in tiles: memory is bounded whatever the image size
    advice: str = ""  # what makes it cheaper (a smaller region, a preset, tiles)

    def describe(self) -> str:
        """``about 1.4 GB and 3 min``."""
        text = f"about {format_bytes(self.memory_bytes)}"
        if self.seconds is not None:
            text += f" and {format_seconds(self.seconds)}"
        return text


@dataclass(frozen=True)
class Verdict:
    level: str  # "ok", "warn" or "refuse"
    message: str = ""


def judge(estimate: CostEstimate, available_bytes: int, what: str = "This run", stoppable: bool = False) -> Verdict:
    """Whether a run with ``estimate`` should start with ``available_bytes`` free.

    ``stoppable``: the run can be stopped at any step with its result kept (Deep Image Prior),
    so its length alone is no reason to ask; its memory still is.
    """
    advice = f" {estimate.advice}" if estimate.advice else ""
    if estimate.memory_bytes > REFUSE_MEMORY_SHARE * available_bytes:
        return Verdict(
            "refuse",
            f"{what} needs {estimate.describe()}, but only {format_bytes(available_bytes)} of memory is free, "
            f"so it cannot run.{advice}",
        )
    reasons = []
    if estimate.memory_bytes > WARN_MEMORY_SHARE * available_bytes:
        reasons.append(f"more than half of the free memory ({format_bytes(available_bytes)})")
    if estimate.seconds is not None and estimate.seconds > WARN_SECONDS and not stoppable:
        reasons.append(f"{format_seconds(estimate.seconds)}")
    if reasons:
        return Verdict("warn", f"{what} needs {estimate.describe()}: {' and '.join(reasons)}.{advice}")
    return Verdict("ok")


def assess(method: Any, shape: tuple[int, ...], params: Any, device: str, stoppable: bool = False) -> Verdict:
    """Estimate ``method``'s run on an image of ``shape`` and judge it against the free memory.

    Never raises: an estimate is advice, so one that fails is ``ok`` (the run reports real errors).
    """
    from denoise_studio.core.device import available_memory

    try:
        estimate = method.estimate_cost(shape, params, device)
        free = available_memory(device)
    except Exception:  # noqa: BLE001
        return Verdict("ok")
    what = f"{getattr(method, 'title', None) or method.id} on {shape[1]}×{shape[0]} pixels"
    return judge(estimate, free, what=what, stoppable=stoppable)


def format_bytes(n: float) -> str:
    if n >= GB:
        return f"{n / GB:.1f} GB"
    return f"{n / (1 << 20):.0f} MB"


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
