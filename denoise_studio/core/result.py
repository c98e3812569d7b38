"""One typed result model for the window, the command line, kept iterates and session restore.

A :class:`Result` is an image worth keeping (a finished run, a time-machine iterate, a restored
result) with everything needed to show, compare, export and replay it. :func:`measure` is the
one place where a result is measured against the reference (or, without one, against the noisy
input); the worker, the CLI, kept iterates and restored sessions all call it.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from denoise_studio.core import metrics
from denoise_studio.core.params import Params
from denoise_studio.core.quality import QualityEstimate

#: ``(x, y, width, height)`` of a region run, in the coordinates of the whole input.
Region = tuple[int, int, int, int]

#: The kinds of difference map: the error left (result − reference), or what the method
#: removed (noisy − result) when there is no reference.
HEATMAP_ERROR = "reference"
HEATMAP_REMOVED = "removed"

_ids = itertools.count(1)


@dataclass
class CurvePoint:
    """One step of a run (or of a training) as a curve plots it."""

    step: int
    loss: float | None = None
    #: Named values of the step: the method's own scalars (see ``core/curves.py``) and, when
    #: the worker measured it, ``psnr`` against the reference.
    scalars: dict[str, float] = field(default_factory=dict)
    events: tuple[str, ...] = ()


@dataclass
class Measurement:
    """How good an image is: against the reference when there is one, else what was removed."""

    psnr: float | None = None
    ssim: float | None = None
    heatmap: np.ndarray | None = None
    heatmap_kind: str = HEATMAP_ERROR
    #: No-reference noise estimate of the image (0–255), made only without a reference.
    sigma: float | None = None


def crop(image: np.ndarray | None, region: Region | None) -> np.ndarray | None:
    """``image`` cut to ``region`` (contiguous); the image itself without a region."""
    if image is None or region is None:
        return image
    x, y, w, h = region
    return np.ascontiguousarray(image[y : y + h, x : x + w])


def measure(
    image: np.ndarray,
    noisy: np.ndarray | None,
    reference: np.ndarray | None,
    *,
    with_ssim: bool = True,
    with_sigma: bool = False,
) -> Measurement:
    """PSNR, SSIM and the difference map of ``image``.

    With a ``reference`` of the same shape: PSNR and SSIM against it and the error map
    ``image − reference``. Without one: no PSNR, the map of what was removed (``noisy −
    image``) and, with ``with_sigma``, the noise level still left in ``image``.
    """
    if reference is not None and reference.shape == image.shape:
        ssim_value = _safe_ssim(image, reference) if with_ssim else None
        return Measurement(metrics.psnr(image, reference), ssim_value, metrics.difference(image, reference), HEATMAP_ERROR)
    heatmap = metrics.difference(noisy, image) if noisy is not None and noisy.shape == image.shape else None
    sigma = metrics.estimate_noise_sigma(image) if with_sigma else None
    return Measurement(None, None, heatmap, HEATMAP_REMOVED, sigma)


def _safe_ssim(image: np.ndarray, reference: np.ndarray) -> float | None:
    try:
        return metrics.ssim(image, reference)
    except ValueError:  # smaller than the SSIM window
        return None


@dataclass
class Result:
    """A finished run, a kept iterate or a restored result, with what it needs to be replayed."""

    method_id: str
    method_title: str
    params: Params | None
    image: np.ndarray
    seed: int = 0
    device: str = "cpu"
    elapsed: float = 0.0
    psnr: float | None = None
    ssim: float | None = None
    heatmap: np.ndarray | None = None
    heatmap_kind: str = HEATMAP_ERROR
    sigma_noisy: float | None = None  # no-reference σ estimate of the input (0–255)
    sigma_result: float | None = None  # ... and of what is left in the result
    stopped_early: bool = False
    #: The PSNR estimated without a reference (Monte-Carlo SURE, ``core/quality.py``), or why not.
    estimate: QualityEstimate | None = None
    #: The step of the method's final snapshot (the iteration a stopped run ended at).
    final_step: int | None = None
    #: A time-machine iterate: the iteration it comes from.
    iteration: int | None = None
    #: The iterate was enlarged from the time machine's preview, not a full-resolution keyframe.
    preview: bool = False
    region: Region | None = None
    #: Where the input came from and what the studio did to it (replayed from the sidecar).
    input_source: str | None = None
    reference_source: str | None = None
    noise: dict[str, Any] | None = None
    #: What the method reported about the run (its final snapshot's ``info``) and its last message.
    info: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    #: Other outputs the run offers in place of ``image`` (the final snapshot's ``maps``: DIP's
    #: raw, averaged and suggested iterates); not kept in the session.
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    points: list[CurvePoint] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        """Short name for viewer titles: ``#3 NLM``."""
        return f"#{self.id} {self.method_title}"

    @property
    def weights(self) -> dict[str, Any] | None:
        """The weights a network used (name and checksum), as its snapshot reported them."""
        weights = self.info.get("weights")
        return weights if isinstance(weights, dict) else None

    def apply(self, measurement: Measurement) -> None:
        """Take the figures and the map of ``measurement``."""
        self.psnr, self.ssim = measurement.psnr, measurement.ssim
        self.heatmap, self.heatmap_kind = measurement.heatmap, measurement.heatmap_kind
        if measurement.sigma is not None:
            self.sigma_result = measurement.sigma

    def chosen(self) -> dict[str, Any]:
        """The values the method chose for the parameters left on "auto" (σ estimated, h, ...)."""
        return chosen_values(self.params.to_dict() if self.params is not None else {}, self.info)

    def params_text(self, limit: int = 4) -> str:
        if self.params is None:
            return ""
        chosen = self.chosen()
        items = list(self.params.to_dict().items())
        text = ", ".join(f"{k}={short_value(chosen[k])} (auto)" if k in chosen else f"{k}={short_value(v)}" for k, v in items[:limit])
        return text + (", …" if len(items) > limit else "")

    def summary(self) -> str:
        """Three lines for a list: name, metrics, parameters."""
        figures = []
        if self.psnr is not None:
            figures.append("∞ dB" if math.isinf(self.psnr) else f"{self.psnr:.2f} dB")
        if self.ssim is not None:
            figures.append(f"SSIM {self.ssim:.3f}")
        if self.psnr is None and self.estimate is not None and self.estimate.valid:
            figures.append(f"est. {self.estimate.text()}")
        figures.append(f"{self.elapsed:.1f} s")
        early = " (stopped early)" if self.stopped_early else ""
        return f"{self.label}{early}\n{' · '.join(figures)}\n{self.params_text()}"

    def metrics(self) -> dict[str, Any]:
        """The figures a sidecar records."""
        out: dict[str, Any] = {"seconds": round(self.elapsed, 3)}
        if self.psnr is not None:
            out["psnr"] = self.psnr
        if self.ssim is not None:
            out["ssim"] = self.ssim
        if self.estimate is not None:
            out["estimated_psnr"] = self.estimate.to_dict()
        return out

    def to_record(self) -> dict[str, Any]:
        """The result without its arrays, as plain JSON values (the session manifest's entry)."""
        return {
            "method_id": self.method_id, "method_title": self.method_title,
            "params": self.params.to_dict() if self.params is not None else None,
            "seed": self.seed, "device": self.device, "elapsed": self.elapsed, "psnr": self.psnr, "ssim": self.ssim,
            "sigma_noisy": self.sigma_noisy, "sigma_result": self.sigma_result, "stopped_early": self.stopped_early,
            "final_step": self.final_step, "iteration": self.iteration, "preview": self.preview,
            "region": list(self.region) if self.region else None, "input_source": self.input_source,
            "reference_source": self.reference_source, "noise": self.noise, "info": _plain(self.info),
            "message": self.message, "created": self.created,
            "estimated_psnr": self.estimate.to_dict() if self.estimate is not None else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], image: np.ndarray, params: Params | None) -> Result:
        """A result written by :meth:`to_record` (``params`` parsed by the caller, who knows the method)."""
        if isinstance(record.get("extra"), dict):  # a manifest of version 0.x kept these in "extra"
            old = dict(record["extra"])
            old.setdefault("reference_source", old.pop("reference", None))
            record = {**record, **old}
        region = record.get("region")
        return cls(
            method_id=str(record.get("method_id", "")), method_title=str(record.get("method_title", "result")),
            params=params, image=image, seed=int(record.get("seed", 0)), device=str(record.get("device", "cpu")),
            elapsed=float(record.get("elapsed", 0.0)), psnr=record.get("psnr"), ssim=record.get("ssim"),
            sigma_noisy=record.get("sigma_noisy"), sigma_result=record.get("sigma_result"),
            stopped_early=bool(record.get("stopped_early")), final_step=record.get("final_step"),
            iteration=record.get("iteration"), preview=bool(record.get("preview")),
            region=(int(region[0]), int(region[1]), int(region[2]), int(region[3])) if region else None,
            input_source=record.get("input_source"), reference_source=record.get("reference_source"),
            noise=record.get("noise"), info=dict(record.get("info") or {}), message=str(record.get("message", "")),
            created=float(record.get("created", time.time())),
            estimate=QualityEstimate.from_dict(record["estimated_psnr"]) if isinstance(record.get("estimated_psnr"), dict) else None,
        )


def chosen_values(params: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """For each parameter left empty ("auto"), the value the run reports it used, if it does."""
    return {name: info[name] for name, value in params.items() if value is None and isinstance(info.get(name), (int, float))}


def short_value(value: Any) -> str:
    """A parameter value as a list shows it: ``auto`` for an empty optional one."""
    if value is None:
        return "auto"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` without arrays (the session manifest is JSON)."""
    return {k: v for k, v in info.items() if not isinstance(v, np.ndarray)}
