"""The Markdown tables of ``bench``: one per noise model, or one for all noise levels."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from denoise_studio.commands.bench import estimate
from denoise_studio.core.errors import UserError


def _format_sigma(sigma: float | None) -> str:
    if sigma is None:
        return "real"
    return f"{sigma:g}"


def markdown_tables(results: list[dict[str, Any]], noisy_rows: list[dict[str, Any]], caption: str = "") -> str:
    """One table per noise model: rows are methods, a PSNR / SSIM column per σ, and seconds."""
    out: list[str] = []
    if caption:
        out += [caption, ""]
    models = list(dict.fromkeys(r["noise"] for r in results))
    for model in models:
        rows = [r for r in results if r["noise"] == model]
        sigmas = list(dict.fromkeys(r["sigma"] for r in rows))
        methods = list(dict.fromkeys(r["method"] for r in rows))
        header = "| Method | " + " | ".join(f"σ = {_format_sigma(s)}: PSNR / SSIM" for s in sigmas) + " | s / image |"
        counts = {r["images"] for r in rows}
        uniform = len(counts) == 1
        out.append(f"Noise: {model}" + (f", {rows[0]['images']} images" if uniform else ", images per cell in brackets"))
        out.append("")
        out.append(header)
        out.append("|---|" + "---|" * (len(sigmas) + 1))
        noisy = {r["sigma"]: r for r in noisy_rows if r["noise"] == model}
        if noisy:
            cells = [f"{noisy[s]['psnr']:.2f} / {noisy[s]['ssim']:.4f}" if s in noisy else "–" for s in sigmas]
            out.append("| (noisy input) | " + " | ".join(cells) + " | – |")
        for m in methods:
            by_sigma = {r["sigma"]: r for r in rows if r["method"] == m}
            cells = []
            for s in sigmas:
                r = by_sigma.get(s)
                text = f"{r['psnr']:.2f} / {r['ssim']:.4f}{estimate.gap_text(r)}" if r and r["psnr"] is not None else "–"
                if r and not uniform:
                    text += f" ({r['images']})"
                cells.append(text)
            times = [r["seconds"] for r in by_sigma.values() if r["seconds"] is not None]
            seconds = f"{np.mean(times):.2f}" if times else "–"
            out.append(f"| {m} | " + " | ".join(cells) + f" | {seconds} |")
        out.append("")
    return "\n".join(out)


def markdown_by_noise(
    results: list[dict[str, Any]],
    noisy_rows: list[dict[str, Any]],
    caption: str = "",
    difference: tuple[str, str] | None = None,
) -> str:
    """One table for every noise: a row per (noise model, σ), a PSNR / SSIM column per method,
    optionally the PSNR difference of two methods, and a last row of mean seconds per image."""
    out: list[str] = [caption, ""] if caption else []
    methods = list(dict.fromkeys(r["method"] for r in results))
    keys = list(dict.fromkeys((r["noise"], r["sigma"]) for r in results))
    cell = {(r["method"], r["noise"], r["sigma"]): r for r in results}
    noisy = {(r["noise"], r["sigma"]): r for r in noisy_rows}
    counts = {r["images"] for r in results}
    uniform = len(counts) == 1
    if uniform:
        out += [f"{counts.pop()} images; PSNR (dB) / SSIM", ""]
    else:
        out += ["PSNR (dB) / SSIM, images per cell in brackets", ""]
    extra = [f"{difference[0]} − {difference[1]}"] if difference else []
    out.append("| Noise (σ) | noisy | " + " | ".join(methods + extra) + " |")
    out.append("|---|---|" + "---|" * (len(methods) + len(extra)))

    def text(r: dict[str, Any] | None) -> str:
        if r is None or r["psnr"] is None:
            return "–"
        return f"{r['psnr']:.2f} / {r['ssim']:.3f}{estimate.gap_text(r)}" + ("" if uniform else f" ({r['images']})")

    for noise, sigma in keys:
        cells = [text(noisy.get((noise, sigma)))] + [text(cell.get((m, noise, sigma))) for m in methods]
        if difference:
            a, b = (cell.get((m, noise, sigma)) for m in difference)
            ok = a is not None and b is not None and a["psnr"] is not None and b["psnr"] is not None
            cells.append(f"{a['psnr'] - b['psnr']:+.2f} dB" if ok else "–")  # type: ignore[index]
        out.append(f"| {noise} {_format_sigma(sigma)} | " + " | ".join(cells) + " |")
    seconds = []
    for m in methods:
        times = [r["seconds"] for r in results if r["method"] == m and r["seconds"] is not None]
        seconds.append(f"{np.mean(times):.2f}" if times else "–")
    out.append("| s / image | – | " + " | ".join(seconds + ["" for _ in extra]) + " |")
    out.append("")
    return "\n".join(out)


def parse_difference(text: str | None, by_noise: bool) -> tuple[str, str] | None:
    """``--difference A,B`` as a pair of method ids."""
    if text is None:
        return None
    if not by_noise:
        raise UserError("--difference needs --by-noise")
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--difference {text}: expected two method ids, A,B")
    return parts[0], parts[1]


def render_tables(args: argparse.Namespace, results: list[dict[str, Any]], noisy_rows: list[dict[str, Any]], caption: str) -> str:
    """The Markdown of a run or a merge, in the layout the arguments ask for."""
    if args.by_noise:
        return markdown_by_noise(results, noisy_rows, caption, parse_difference(args.difference, True))
    return markdown_tables(results, noisy_rows, caption)
