"""Reproducibility sidecars: a JSON record written beside every exported result.

An export ``result.png`` gets ``result.png.json`` holding what is needed to reproduce it: the
input, the method and its parameters, the seed, the device, the weights (file and checksum) and
the software versions, plus the metrics measured at export time. The window and
``denoise-studio denoise`` both write it with :func:`write_sidecar`; ``replay`` reads it back
with :func:`read_sidecar`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from denoise_studio.core.errors import UserError
from denoise_studio.core.image import SAMPLE_PREFIX, write_text_atomically

SIDECAR_SUFFIX = ".json"
SCHEMA = "denoise-studio/sidecar"
SCHEMA_VERSION = 1


class SidecarError(UserError, ValueError):
    """A sidecar file cannot be read or is not a Denoise Studio sidecar."""


def sidecar_path(image_path: str | os.PathLike[str]) -> Path:
    """The sidecar of an exported image: the image's name with ``.json`` appended."""
    path = Path(os.fspath(image_path))
    return path.with_name(path.name + SIDECAR_SUFFIX)


def software_versions() -> dict[str, str]:
    """Versions of the software that shapes a result.

    torch is reported only when it is already imported (a classical run never pays for it).
    """
    from denoise_studio import __version__

    versions: dict[str, str] = {
        "denoise_studio": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    import numpy

    versions["numpy"] = numpy.__version__
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:  # pragma: no cover - a dependency; reported rather than fatal
        versions["opencv"] = "missing"
    for name in ("torch", "skimage", "bm3d"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def _input_reference(input_path: str | os.PathLike[str] | None) -> str | None:
    """``sample:NAME`` kept as is; a file path made absolute so a replay finds it elsewhere."""
    if input_path is None:
        return None
    text = os.fspath(input_path)
    if text.startswith(SAMPLE_PREFIX):
        return text
    return str(Path(text).resolve())


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def build_record(
    *,
    input_path: str | os.PathLike[str] | None,
    method_id: str,
    params: dict[str, Any],
    seed: int,
    device: str,
    metrics: dict[str, Any] | None,
    weights: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar record of one result.

    Parameters
    ----------
    input_path
        The noisy input (a file path, made absolute, or ``sample:NAME``); ``None`` if the input
        was generated in memory.
    method_id, params
        The registry id and ``Params.to_dict()`` of the run.
    seed, device
        The run's seed and torch device string.
    metrics
        Measured values (``psnr``, ``ssim``, ``seconds``, ...) or ``None``.
    weights
        For network methods: ``{"file": ..., "sha256": ..., ...}`` of the weights used.
    extra
        Anything else worth keeping (noise added, stop iteration, ...); merged under ``extra``.
    info
        The final snapshot's ``info``: what the run used (``threads``, a network's
        ``tile_size`` after any out-of-memory retreat) goes under ``compute`` with the device.

    Returns
    -------
    dict
        A JSON-compatible dictionary (NaN and infinities become ``null``).
    """
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input": _input_reference(input_path),
        "method": method_id,
        "params": dict(params),
        "seed": int(seed),
        "device": str(device),
        "metrics": dict(metrics) if metrics is not None else {},
        "weights": dict(weights) if weights is not None else None,
        "versions": software_versions(),
    }
    record["compute"] = compute_record(device, info or {})
    if extra:
        record["extra"] = dict(extra)
    return _jsonable(record)


def compute_record(device: str, info: dict[str, Any]) -> dict[str, Any]:
    """Where a result was computed: the device (the one a network fell back to, if it did),
    torch's CPU threads (when torch ran) and the tile side and count of tiled networks."""
    from denoise_studio.core.device import torch_threads

    compute: dict[str, Any] = {"device": str(info.get("device") or device)}
    threads = info.get("threads", torch_threads())
    if threads is not None:
        compute["threads"] = threads
    for key in ("tile_size", "tiles"):
        if info.get(key) is not None:
            compute[key] = info[key]
    return compute


def write_sidecar(image_path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` atomically to ``<image_path>.json`` and return that path.

    Raises
    ------
    OSError
        If the folder cannot be written.
    """
    target = sidecar_path(image_path)
    text = json.dumps(_jsonable(record), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_text_atomically(target, text)


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sidecar (given the sidecar itself, or the image it belongs to).

    Raises
    ------
    SidecarError
        Missing file, invalid JSON, or not a Denoise Studio sidecar.
    """
    p = Path(os.fspath(path))
    if p.suffix.lower() != SIDECAR_SUFFIX and sidecar_path(p).is_file():
        p = sidecar_path(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SidecarError(f"{p}: no such sidecar file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{p}: cannot read ({exc})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or "method" not in record:
        raise SidecarError(f"{p}: not a Denoise Studio sidecar")
    return record
