"""The DIP time machine: every iterate of a run, kept within a memory budget.

:class:`IterateHistory` keeps

* every recorded iterate at **preview scale** (the longer side at most ``preview_max_side``
  pixels, area-averaged) in float16, and
* a **full-resolution keyframe** (float16) every ``keyframe_interval`` steps.

When the next iterate would exceed ``budget_bytes``, the store thins itself: every other
non-keyframe preview is dropped and from then on only every second step is kept (then every
fourth, ...), so the history always spans the whole run. If keyframes alone fill the budget,
every other keyframe is dropped the same way.

It is written by the worker thread (:meth:`record`) while the GUI thread reads it
(:meth:`steps`, :meth:`get`); every access takes one lock and no call returns a view of the
internal storage. float16 has a step of at most 2^-11 in [0.5, 1], well below an 8-bit level
(1/255), so an exported iterate is the iterate.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import cv2
import numpy as np

DEFAULT_BUDGET = 1 << 30  # 1 GiB


def _to_hwc(image: Any) -> np.ndarray:
    """H×W×C numpy array from an H×W×C array or a (1×)C×H×W torch tensor (copied to the CPU)."""
    if hasattr(image, "detach"):
        t = image.detach()
        if t.ndim == 4:
            t = t[0]
        return np.ascontiguousarray(t.float().cpu().numpy().transpose(1, 2, 0))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


class IterateHistory:
    """A thread-safe, memory-bounded store of a run's iterates (see the module docstring).

    Parameters
    ----------
    budget_bytes
        The most bytes the stored arrays may take (default 1 GiB).
    preview_max_side
        Longer side of a preview; images already that small are stored at full resolution.
    keyframe_interval
        A full-resolution copy is kept for every step that is a multiple of this (and for the
        first recorded step). 0 disables keyframes.
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET, preview_max_side: int = 256, keyframe_interval: int = 100) -> None:
        if budget_bytes <= 0 or preview_max_side < 1 or keyframe_interval < 0:
            raise ValueError("budget_bytes and preview_max_side must be positive, keyframe_interval >= 0")
        self.budget_bytes = int(budget_bytes)
        self.preview_max_side = int(preview_max_side)
        self.keyframe_interval = int(keyframe_interval)
        self._lock = threading.RLock()
        self._previews: dict[int, np.ndarray] = {}
        self._keyframes: dict[int, np.ndarray] = {}
        self._steps: list[int] = []  # sorted steps that have a preview
        self._stride = 1  # record every stride-th step (doubles when thinning)
        self._keyframe_stride = 1  # keep every n-th keyframe (doubles when keyframes fill the budget)
        self._nbytes = 0
        self.full_shape: tuple[int, ...] | None = None
        self.preview_shape: tuple[int, ...] | None = None

    # -- writing (worker thread) ---------------------------------------------------------------
    def clear(self) -> None:
        """Forget everything (a new run)."""
        with self._lock:
            self._previews.clear()
            self._keyframes.clear()
            self._steps.clear()
            self._stride = self._keyframe_stride = 1
            self._nbytes = 0
            self.full_shape = self.preview_shape = None

    def _preview_size(self, h: int, w: int) -> tuple[int, int]:
        scale = min(1.0, self.preview_max_side / max(h, w))
        return max(1, round(h * scale)), max(1, round(w * scale))

    def is_keyframe_step(self, step: int) -> bool:
        """Whether :meth:`record` would keep a full-resolution copy of ``step``."""
        k = self.keyframe_interval * self._keyframe_stride
        return self.keyframe_interval > 0 and (step % k == 0 or not self._keyframes and not self._steps)

    def wants(self, step: int) -> bool:
        """Whether :meth:`record` would store anything for ``step`` (lets callers skip a copy)."""
        with self._lock:
            return step % self._stride == 0 or self.is_keyframe_step(step)

    def record(self, step: int, image: Any) -> bool:
        """Store the iterate of ``step`` (H×W×C array or a C×H×W / 1×C×H×W tensor).

        Returns whether anything was stored. Steps must increase.
        """
        with self._lock:
            if not self.wants(step):
                return False
            full = _to_hwc(image)
            h, w = full.shape[:2]
            if self.full_shape is None:
                self.full_shape = tuple(full.shape)
            elif tuple(full.shape) != self.full_shape:
                raise ValueError(f"iterate of shape {full.shape} in a history of {self.full_shape}")
            ph, pw = self._preview_size(h, w)
            if (ph, pw) == (h, w):
                preview = full.astype(np.float16)
            else:
                small = cv2.resize(np.ascontiguousarray(full, dtype=np.float32), (pw, ph), interpolation=cv2.INTER_AREA)
                preview = small.reshape(ph, pw, -1).astype(np.float16)
            self.preview_shape = tuple(preview.shape)
            keyframe = self.is_keyframe_step(step) and (ph, pw) != (h, w)
            need = preview.nbytes + (full.size * 2 if keyframe else 0)
            while self._nbytes + need > self.budget_bytes:
                if not self._thin():
                    return False  # one iterate alone exceeds the budget
                if not self.wants(step):
                    return False
                keyframe = keyframe and self.is_keyframe_step(step)
                need = preview.nbytes + (full.size * 2 if keyframe else 0)
            if step % self._stride == 0 or keyframe:
                self._previews[step] = preview
                bisect.insort(self._steps, step)
                self._nbytes += preview.nbytes
            if keyframe:
                self._keyframes[step] = full.astype(np.float16)
                self._nbytes += full.size * 2
            return True

    def _thin(self) -> bool:
        """Free memory: drop every other preview (keyframes' previews stay); else every other keyframe."""
        droppable = [s for s in self._steps if s not in self._keyframes]
        if len(droppable) >= 2:
            self._stride *= 2
            for s in droppable:
                if s % self._stride:
                    self._nbytes -= self._previews.pop(s).nbytes
            self._steps = sorted(self._previews)
            return True
        if len(self._keyframes) >= 2:
            self._keyframe_stride *= 2
            k = self.keyframe_interval * self._keyframe_stride
            keys = sorted(self._keyframes)
            for s in keys[1:]:
                if s % k:
                    self._nbytes -= self._keyframes.pop(s).nbytes
            return True
        return False

    # -- reading (any thread) ------------------------------------------------------------------
    def steps(self) -> list[int]:
        """The recorded steps, increasing (a copy)."""
        with self._lock:
            return list(self._steps)

    def keyframe_steps(self) -> list[int]:
        """The steps with a full-resolution copy, increasing."""
        with self._lock:
            return sorted(self._keyframes)

    def has_keyframe(self, step: int) -> bool:
        with self._lock:
            return step in self._keyframes

    def nearest(self, step: int) -> int | None:
        """The recorded step closest to ``step`` (for a slider or a click on the curve)."""
        with self._lock:
            if not self._steps:
                return None
            i = bisect.bisect_left(self._steps, step)
            candidates = self._steps[max(0, i - 1) : i + 1]
            return min(candidates, key=lambda s: (abs(s - step), s))

    def get(self, step: int) -> np.ndarray:
        """The stored iterate of ``step`` as float32 H×W×C (a new array).

        Full resolution where a keyframe exists, else the preview. ``KeyError`` if ``step`` was
        not kept (use :meth:`nearest`).
        """
        with self._lock:
            if step in self._keyframes:
                return self._keyframes[step].astype(np.float32)
            if step in self._previews:
                return self._previews[step].astype(np.float32)
        raise KeyError(f"step {step} is not in the history")

    def get_preview(self, step: int) -> np.ndarray:
        """The preview-scale iterate of ``step`` (float32)."""
        with self._lock:
            return self._previews[step].astype(np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored arrays (always ≤ ``budget_bytes``)."""
        with self._lock:
            return self._nbytes

    @property
    def stride(self) -> int:
        """Every how many steps an iterate is kept now (1 until the budget forced thinning)."""
        with self._lock:
            return self._stride

    def __len__(self) -> int:
        with self._lock:
            return len(self._steps)

    def summary(self) -> dict[str, Any]:
        """Memory accounting for a status line or a JSON report."""
        with self._lock:
            return {
                "iterates": len(self._steps),
                "keyframes": len(self._keyframes),
                "nbytes": self._nbytes,
                "budget_bytes": self.budget_bytes,
                "stride": self._stride,
                "preview_shape": self.preview_shape,
                "full_shape": self.full_shape,
            }
