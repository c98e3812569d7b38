"""Writing results: the image, atomically and never over an input, and its JSON sidecar.

The window's exports and ``denoise``'s output both end here, so that a sidecar written by either
replays the same way (``denoise-studio replay``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.image import SAMPLE_PREFIX, output_depth, save_image
from denoise_studio.core.metadata import kept
from denoise_studio.core.result import Result
from denoise_studio.core.sidecar import build_record, write_sidecar

JPEG_SUFFIXES = (".jpg", ".jpeg")


def export_result(
    result: Result,
    path: str | os.PathLike[str],
    *,
    bit_depth: int = 8,
    jpeg_quality: int = 95,
    protected: tuple[str, ...] = (),
    alpha: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``result``'s image to ``path`` and its sidecar beside it (``path`` + ``.json``).

    ``protected`` are files that must not be overwritten (the input, the reference). Raises
    :class:`~denoise_studio.core.image.ImageError` or :class:`OSError` when it cannot write.
    ``alpha``: the input's transparency, written back where the format keeps it.
    ``metadata``: the input's ``ImageData.metadata`` (EXIF, ICC profile, XMP, DPI), written back
    into a JPEG, PNG, TIFF or WebP; the sidecar lists what was kept.
    """
    target = Path(os.fspath(path))
    suffix = target.suffix.lower()
    save_image(target, result.image, bit_depth=bit_depth, jpeg_quality=jpeg_quality, protected=protected, alpha=alpha, metadata=metadata)
    record = build_record(
        input_path=result.input_source,
        method_id=result.method_id,
        params=result.params.to_dict() if result.params is not None else {},
        seed=result.seed,
        device=result.device,
        metrics=result.metrics(),
        weights=result.weights,
        info=result.info,
        extra={
            "noise": result.noise,
            "reference": result.reference_source,
            "stopped_early": result.stopped_early,
            "final_step": result.final_step,
            "iteration": result.iteration,
            "region": list(result.region) if result.region else None,
            "from_preview": result.preview,
            "label": result.label,
            "chosen": result.chosen(),
            "bit_depth": output_depth(suffix, bit_depth),
            "metadata_kept": kept(metadata or {}, suffix),
            "jpeg_quality": jpeg_quality if suffix in JPEG_SUFFIXES else None,
        },
    )
    write_sidecar(target, record)
    return target


def export_name(source: str | None, result: Result, suffix: str = ".png") -> str:
    """``<input>_<id>_<method><suffix>``: the file name of a result in a folder export."""
    stem = "result"
    if source:
        stem = source[len(SAMPLE_PREFIX):] if source.startswith(SAMPLE_PREFIX) else Path(source).stem
    # An imported model's id has a colon (imported:NAME), which Windows file names may not hold.
    return f"{stem}_{result.id}_{result.method_id.replace(':', '-')}{suffix}"
