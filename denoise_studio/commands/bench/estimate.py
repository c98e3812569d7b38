"""The estimated PSNR of every benchmark row (Monte-Carlo SURE, ``core/quality.py``) and the
table that checks it against the true PSNR.

Each result gets two more runs of its method (the probes, same seed and parameters), made once
and used twice: with the true σ of the synthetic noise ("σ given") and with σ estimated from the
noisy image ("σ estimated"). Real pairs have no known σ: only the second. Poisson–Gaussian
noise gets PG-URE with its σ given (none with σ estimated). Iterative methods and noise models
for which no estimate holds get the reason instead of a number, and no probe run.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

#: The validation targets of issue 19 (σ given): mean and largest |estimated − true PSNR|, dB.
TARGET_MEAN_GAP = 0.3
TARGET_MAX_GAP = 0.6

#: The key of a row's estimate with σ given (or estimated where none is known), and with σ estimated.
GIVEN = "estimated_psnr"
ESTIMATED = "estimated_psnr_sigma_estimated"


def estimate_row(method: Any, params: Any, noisy: np.ndarray, result: np.ndarray, *, seed: int, device: str,
                 sigma: float | None, noise_model: str, source: str | None = None) -> dict[str, Any]:
    """``{GIVEN: {...}, ESTIMATED: {...}}``: the estimates of ``result`` as plain JSON values."""
    from denoise_studio.core import quality
    from denoise_studio.core.method import RunContext, run_to_end

    model = None if noise_model == "real" else noise_model
    reason = quality.noise_validity(model, iterative=bool(method.iterative), source=source)
    if reason is not None:
        answer = quality.not_valid(reason).to_dict()
        return {GIVEN: answer, ESTIMATED: answer if sigma is not None else None}

    def denoiser(probed: np.ndarray) -> np.ndarray:
        final = run_to_end(method, probed, params, RunContext(seed=seed, device=device))
        assert final.image is not None
        return final.image

    runs = quality.run_probes(noisy, denoiser, seed=seed)
    blind = quality.estimate_from_probes(noisy, result, runs, quality.estimate_sigma(noisy), model, "estimated")
    if sigma is None:
        return {GIVEN: blind.to_dict(), ESTIMATED: None}
    given = quality.estimate_from_probes(noisy, result, runs, float(sigma), model, "given")
    return {GIVEN: given.to_dict(), ESTIMATED: blind.to_dict()}


def value(estimate: dict[str, Any] | None) -> float | None:
    """The estimated PSNR of a row's estimate, ``None`` when there is none."""
    return None if estimate is None else estimate.get("value")


def gaps(true: list[float], estimates: list[dict[str, Any] | None]) -> list[float]:
    """|estimated − true| (dB) of the rows that have an estimate."""
    return [abs(v - t) for t, e in zip(true, estimates) if (v := value(e)) is not None]


def summary(true: list[float], estimates: list[dict[str, Any] | None], prefix: str = "estimated_psnr") -> dict[str, Any]:
    """Mean estimated PSNR, mean and largest |gap| and the count of rows with an estimate."""
    values = [v for e in estimates if (v := value(e)) is not None]
    found = gaps(true, estimates)
    return {
        prefix: float(np.mean(values)) if values else None,
        f"{prefix}_gap_mean": float(np.mean(found)) if found else None,
        f"{prefix}_gap_max": float(np.max(found)) if found else None,
        f"{prefix}_images": len(values),
    }


def gap_text(row: dict[str, Any]) -> str:
    """`` (est. +0.12)``: the signed mean gap of a summary row, or nothing without estimates."""
    if row.get("estimated_psnr") is None or row.get("psnr") is None:
        return ""
    return f" (est. {row['estimated_psnr'] - row['psnr']:+.2f})"


def validation_markdown(per_image: list[dict[str, Any]]) -> str:
    """The check of issue 19: per method and σ, mean and largest |estimated − true PSNR|."""
    rows = [r for r in per_image if r.get(GIVEN) is not None]
    if not rows:
        return ""
    keys = list(dict.fromkeys((r["method"], r["noise"], r["sigma"]) for r in rows))
    out = [
        "",
        "Estimated PSNR (Monte-Carlo SURE, two probes) against the true PSNR, |estimated − true| in dB: "
        f"mean / largest over the images (targets with σ given: ≤ {TARGET_MEAN_GAP} / ≤ {TARGET_MAX_GAP}); "
        "images with an estimate in brackets where not all have one.",
        "",
        "| Method | noise σ | σ given: mean / max | σ estimated: mean / max | mean spread | target met |",
        "|---|---|---|---|---|---|",
    ]
    for method, noise, sigma in keys:
        cell = [r for r in rows if (r["method"], r["noise"], r["sigma"]) == (method, noise, sigma)]
        true = [r["psnr"] for r in cell]
        given, blind = [r.get(GIVEN) for r in cell], [r.get(ESTIMATED) for r in cell]
        spreads = [s for e in given if e is not None and (s := e.get("spread")) is not None]
        met = _met(gaps(true, given), len(cell))
        spread = f"{np.mean(spreads):.2f}" if spreads else "–"
        level = f"{sigma:g}" if sigma is not None else "real"
        out.append(f"| {method} | {noise} {level} | {_pair(gaps(true, given), len(cell))} | {_pair(gaps(true, blind), len(cell))} | "
                   f"{spread} | {met} |")
    out.append("")
    # the share of pixels left out varies from image to image: one line for all of them
    reasons = Counter(re.sub(r"^\d+%", "N%", e["reason"]) for r in rows for e in (r.get(GIVEN), r.get(ESTIMATED)) if e and e.get("reason"))
    if reasons:
        out += ["No estimate (rows, σ given and estimated counted apart):", ""] + [f"- {n}× {reason}" for reason, n in sorted(reasons.items())] + [""]
    return "\n".join(out)


def _pair(found: list[float], total: int) -> str:
    if not found:
        return "–"
    text = f"{np.mean(found):.2f} / {np.max(found):.2f}"
    return text + (f" ({len(found)})" if len(found) < total else "")


def _met(found: list[float], total: int) -> str:
    if not found:
        return "no estimate"
    ok = float(np.mean(found)) <= TARGET_MEAN_GAP and float(np.max(found)) <= TARGET_MAX_GAP
    return ("yes" if ok else "no") + ("" if len(found) == total else " (not all images)")
