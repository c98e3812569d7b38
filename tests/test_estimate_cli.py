"""The estimated PSNR on the command line: ``denoise --json`` and ``bench``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.noise import add_noise


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def clean_and_noisy(tmp_path: Path, astronaut: np.ndarray) -> tuple[Path, Path]:
    """A mid-tone 128×128 crop (little clips) and the same with Gaussian noise σ 20, as 8-bit PNGs."""
    clean = astronaut[40:168, 160:288] * 0.6 + 0.2
    clean_path, noisy_path = tmp_path / "clean.png", tmp_path / "noisy.png"
    save_image(clean_path, clean)
    save_image(noisy_path, add_noise(clean, "gaussian", 20.0, 2))
    return clean_path, noisy_path


def test_denoise_json_carries_the_estimated_psnr(capsys: pytest.CaptureFixture[str], clean_and_noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean, noisy = clean_and_noisy
    code, out, err = run_cli(capsys, "denoise", str(noisy), "-o", str(tmp_path / "out.png"), "-m", "wavelet",
                             "--reference", str(clean), "--json", "--noise-sigma", "20")
    assert code == 0, err
    report = json.loads(out)
    estimate = report["estimated_psnr"]
    assert estimate["sigma"] == 20.0 and estimate["sigma_source"] == "given" and estimate["reason"] is None
    assert estimate["value"] == pytest.approx(report["psnr"], abs=0.6) and 0 <= estimate["spread"] < 0.2
    code, out, err = run_cli(capsys, "denoise", str(noisy), "-o", str(tmp_path / "blind.png"), "-m", "wavelet", "--json")
    blind = json.loads(out)["estimated_psnr"]
    assert code == 0 and blind["sigma_source"] == "estimated" and blind["sigma"] == pytest.approx(20, abs=2)


def test_denoise_json_says_why_there_is_no_estimate(capsys: pytest.CaptureFixture[str], clean_and_noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, noisy = clean_and_noisy
    jpeg = tmp_path / "photo.jpg"
    save_image(jpeg, load_image(noisy).pixels)
    code, out, err = run_cli(capsys, "denoise", str(jpeg), "-o", str(tmp_path / "out.png"), "-m", "gaussian", "--json")
    assert code == 0, err
    estimate = json.loads(out)["estimated_psnr"]
    assert estimate["value"] is None and "JPEG" in estimate["reason"]
    code, out, _ = run_cli(capsys, "denoise", str(noisy), "-o", str(tmp_path / "skip.png"), "-m", "gaussian", "--json", "--no-estimate")
    assert json.loads(out)["estimated_psnr"]["value"] is None
    code, _, err = run_cli(capsys, "denoise", str(noisy), "-o", str(tmp_path / "bad.png"), "-m", "gaussian", "--json", "--noise-sigma", "-2")
    assert code == 2 and "--noise-sigma" in err


def test_bench_rows_carry_the_estimate_and_the_table_its_gap(capsys: pytest.CaptureFixture[str], clean_and_noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean, _ = clean_and_noisy
    data = tmp_path / "set"
    data.mkdir()
    clean.rename(data / "a.png")
    out, md = tmp_path / "b.json", tmp_path / "b.md"
    code, _, err = run_cli(capsys, "bench", "--data", str(data), "--sigma", "15", "--methods", "gaussian,dip", "-p", "dip.iterations=1",
                           "--json", str(out), "--markdown", str(md), "--quiet")
    assert code == 0, err
    payload = json.loads(out.read_text())
    rows = {r["method"]: r for r in payload["per_image"]}
    given = rows["gaussian"]["estimated_psnr"]
    assert given["sigma"] == 15.0 and given["value"] == pytest.approx(rows["gaussian"]["psnr"], abs=0.3)
    assert rows["gaussian"]["estimated_psnr_sigma_estimated"]["sigma_source"] == "estimated"
    assert rows["dip"]["estimated_psnr"]["value"] is None and "iterative" in rows["dip"]["estimated_psnr"]["reason"]
    summary = next(r for r in payload["results"] if r["method"] == "gaussian")
    assert summary["estimated_psnr_gap_max"] == pytest.approx(abs(given["value"] - rows["gaussian"]["psnr"]))
    table = md.read_text()
    assert "(est. " in table and "| gaussian | gaussian 15 |" in table and "iterative method" in table
    eight = tmp_path / "eight.json"
    code, _, err = run_cli(capsys, "bench", "--data", str(data), "--sigma", "15", "--methods", "gaussian", "--eight-bit", "--no-estimate",
                           "--json", str(eight), "--quiet")
    assert code == 0 and json.loads(eight.read_text())["noise_stored_8bit"] is True
    assert "estimated_psnr" not in json.loads(eight.read_text())["per_image"][0]


def test_an_estimate_that_runs_out_of_memory_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from denoise_studio.commands.denoise.estimate import estimated_psnr
    from denoise_studio.core import quality
    from denoise_studio.methods import create_method

    def no_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(quality, "estimate_psnr", no_memory)
    args = argparse.Namespace(seed=0, device="cpu", input="photo.png", noise_sigma=None, no_estimate=False)
    method = create_method("median")
    pixels = np.full((8, 8, 3), 0.5, np.float32)
    answer = estimated_psnr(args, method, method.Params(), pixels, pixels)
    assert answer["value"] is None and "memory" in answer["reason"]
