"""``denoise-studio replay SIDECAR.json [-o OUT]``: reproduce an exported result from its sidecar.

The sidecar (see ``core/sidecar.py``) names the input, the noise the studio added to it if any
(``extra.noise``), the region a run was restricted to (``extra.region``), the method, its
parameters, the seed and the weights' checksum. Replaying on the CPU gives a bit-identical
result; when the exported image still lies beside the sidecar, the two are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from denoise_studio.core.errors import UserError
from denoise_studio.core.image import ImageError, load_image, save_image
from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.core.noise import add_noise
from denoise_studio.core.sidecar import SidecarError, read_sidecar, sidecar_path

#: The largest rounding of a value in [0, 1] stored as float16 (half of 2^-10, the step in [0.5, 1]).
ITERATE_STORAGE_STEP = 2.0**-11


class ReplayError(UserError):
    """The sidecar cannot be replayed (its input is gone, its weights changed, ...)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sidecar", help="the .json sidecar written beside an exported result (or the result itself)")
    parser.add_argument("-o", "--output", help="where to write the replayed result (default: <result>-replay.<ext>)")
    parser.add_argument("--device", default="cpu", help="torch device for network methods (default cpu: bit-identical)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the comparison")


def prepare_input(record: dict[str, Any]) -> tuple[np.ndarray, str]:
    """The noisy image the recorded run saw: the input file, plus recorded noise and region.

    ``region_origin(record)`` says where that image starts in the input."""
    source = record.get("input")
    if not source:
        raise ReplayError("the sidecar records no input file (the input was made in memory)")
    try:
        pixels = load_image(source).pixels
    except ImageError as exc:
        raise ReplayError(f"cannot load the recorded input: {exc}") from None
    extra = record.get("extra") or {}
    noise = extra.get("noise")
    if noise:
        options = dict(noise.get("options") or {})
        pixels = add_noise(pixels, noise["model"], float(noise["sigma"]), int(noise["seed"]), **options)
    region = extra.get("region")
    if region:
        x, y, w, h = (int(v) for v in region)
        pixels = np.ascontiguousarray(pixels[y : y + h, x : x + w])
    return pixels, str(source)


def region_origin(record: dict[str, Any]) -> tuple[int, int]:
    """The top and left of the recorded region in the input ((0, 0) for the whole image)."""
    region = (record.get("extra") or {}).get("region")
    return (int(region[1]), int(region[0])) if region else (0, 0)


# Steps added to methods after results were recorded, on by default since: a record without
# the parameter was made without the step (the fusion: seventh session; the colour anchor: eleventh).
ADDED_LATER_OFF_BEFORE = {"fuse_input": False, "keep_colour": False}


def replay(record: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """Run the recorded method again and return its result."""
    from denoise_studio.methods import create_method

    method = create_method(record["method"])
    recorded = record.get("params") or {}
    params = method.Params.from_dict(recorded)
    absent = {name: value for name, value in ADDED_LATER_OFF_BEFORE.items() if name in params.to_dict() and name not in recorded}
    if absent:
        params = params.replace(**absent)
    weights = record.get("weights")
    if weights and weights.get("sha256"):
        describe = getattr(method, "weights_checksum", None)
        if describe is not None:
            current = describe(params)
            if current != weights["sha256"]:
                raise ReplayError(
                    f"the weights {weights.get('file', '')!r} differ from the ones recorded (checksum {current} ≠ {weights['sha256']})"
                )
    noisy, _ = prepare_input(record)
    ctx = RunContext(seed=int(record.get("seed", 0)), device=device, origin=region_origin(record))
    return run_to_end(method, noisy, params, ctx).image  # type: ignore[return-value]


def _exported_image(sidecar: Path) -> Path | None:
    if sidecar.suffix.lower() != ".json":
        return sidecar if sidecar.is_file() else None
    image = sidecar.with_name(sidecar.name[: -len(".json")])
    return image if image.is_file() else None


def run(args: argparse.Namespace) -> int:
    given = Path(args.sidecar)
    try:
        record = read_sidecar(given)
    except SidecarError as exc:
        raise UserError(str(exc)) from None
    sidecar = given if given.suffix.lower() == ".json" else sidecar_path(given)
    exported = _exported_image(sidecar)
    try:
        result = replay(record, device=args.device)
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    bit_depth = int((record.get("extra") or {}).get("bit_depth", 8))
    if args.output:
        out = Path(args.output)
    elif exported is not None:
        out = exported.with_name(f"{exported.stem}-replay{exported.suffix}")
    else:
        out = sidecar.with_name(sidecar.name.removesuffix(".json") + "-replay.png")
    save_image(out, result, bit_depth=bit_depth, protected=(record.get("input"), exported))
    report: dict[str, Any] = {"output": str(out), "method": record["method"], "compared_with": None}
    if exported is not None:
        original = load_image(exported).pixels
        again = load_image(out).pixels
        if original.shape != again.shape:
            report.update(compared_with=str(exported), identical=False, max_abs_difference=None, matches=False)
        else:
            diff = float(np.abs(original - again).max())
            # A time-machine iterate was kept in float16 (core/history.py): its export matches the
            # replay to within that storage's step, not to the bit.
            tolerance = ITERATE_STORAGE_STEP if (record.get("extra") or {}).get("iteration") else 0.0
            report.update(compared_with=str(exported), identical=diff == 0.0, max_abs_difference=diff, matches=diff <= tolerance)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"replayed {record['method']} → {out}", file=sys.stderr)
        if report["compared_with"]:
            verdict = "bit-identical" if report.get("identical") else (
                f"the same within the time machine's float16 storage (max |Δ| = {report['max_abs_difference']:.2g})"
                if report.get("matches") else f"differs (max |Δ| = {report['max_abs_difference']})")
            print(f"compared with {report['compared_with']}: {verdict}", file=sys.stderr)
    return 0 if report.get("matches", True) else 1
