"""``denoise DIR -o OUT``: a folder of mixed files, a recipe, a bad file, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.noise import add_noise
from denoise_studio.core.sidecar import read_sidecar


@pytest.fixture
def photos(astronaut: np.ndarray, tmp_path: Path) -> Path:
    """An 8-bit PNG, a 16-bit PNG, a JPEG, a 16-bit TIFF, a corrupt PNG and a text file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (name, depth) in enumerate((("a.png", 8), ("b16.png", 16), ("c.jpg", 8), ("d16.tif", 16))):
        crop = astronaut[40 * i : 40 * i + 64, 100:164]
        save_image(folder / name, add_noise(crop, "gaussian", 20.0, i), bit_depth=depth)
    (folder / "e-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_folder_goes_through_with_a_recipe_and_resumes(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The recipe: a result found on one photo (Gaussian blur with a chosen radius, seed 5).
    first = tmp_path / "first.png"
    assert main(["denoise", str(photos / "a.png"), "-o", str(first), "-m", "gaussian", "-p", "radius=1.5", "--seed", "5"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    code = main(["denoise", str(photos), "-o", str(out), "--recipe", str(first) + ".json"])
    err = capsys.readouterr().err
    assert code == 1  # one file failed
    assert sorted(p.name for p in out.glob("*") if not p.name.endswith(".json")) == ["a.png", "b16.png", "c.jpg", "d16.tif"]
    assert "4 written, 0 skipped (already there), 1 failed" in err and "failed: e-broken.png" in err
    for name, depth in (("a.png", 8), ("b16.png", 16), ("c.jpg", 8), ("d16.tif", 16)):
        assert load_image(out / name).bit_depth == depth  # the same depth out as in
        record = read_sidecar(out / name)
        assert record["method"] == "gaussian" and record["params"]["radius"] == 1.5 and record["seed"] == 5
    # Run again: what exists is skipped, so a stopped run resumes where it was.
    assert main(["denoise", str(photos), "-o", str(out), "--recipe", str(first) + ".json"]) == 1
    assert "0 written, 4 skipped (already there), 1 failed" in capsys.readouterr().err


def test_a_glob_and_json_lines(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "globbed"
    assert main(["denoise", str(photos / "*.png"), "-o", str(out), "-m", "median", "--json", "--quiet"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    assert [Path(p).name for p in summary["written"]] == ["a.png", "b16.png"]
    assert [f["input"] for f in summary["failed"]] == ["e-broken.png"]
    assert {Path(line["output"]).name for line in lines[:-1]} == {"a.png", "b16.png"}


def test_folder_mistakes_are_one_line(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["denoise", str(photos), "-o", str(tmp_path / "o"), "-m", "median", "--reference", str(photos / "a.png")]) == 2
    assert "--reference goes with one image" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "nothing-*.png"), "-o", str(tmp_path / "o"), "-m", "median"]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["denoise", str(photos / "a.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "-m METHOD, or give --recipe" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_bit_depth_asked_for_one_file_and_a_folder(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One file: a 16-bit PNG written at 8 bits, an 8-bit PNG at 16, a float TIFF from an 8-bit PNG.
    for source, out, depth in (("b16.png", "b8.png", 8), ("a.png", "a16.png", 16), ("a.png", "a32.tif", 32)):
        assert main(["denoise", str(photos / source), "-o", str(tmp_path / out), "-m", "median", "--bit-depth", str(depth), "--quiet"]) == 0
        assert load_image(tmp_path / out).bit_depth == depth
        assert read_sidecar(tmp_path / out)["extra"]["bit_depth"] == depth
    # A folder: every output at 16 bits where the format holds it (the JPEG stays 8-bit).
    out = tmp_path / "sixteen"
    assert main(["denoise", str(photos), "-o", str(out), "-m", "median", "--bit-depth", "16", "--quiet"]) == 1  # the broken file
    assert [load_image(out / name).bit_depth for name in ("a.png", "b16.png", "c.jpg", "d16.tif")] == [16, 16, 8, 16]
    capsys.readouterr()


def test_folder_json_lines_carry_the_estimated_psnr_of_each_result(astronaut: np.ndarray, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Noise that never reaches 0 or 1 (float TIFFs, which load clipped): each line's SURE estimate is that of the
    one-file command, and near the true PSNR."""
    from denoise_studio.core.metrics import psnr

    folder, out = tmp_path / "noisy", tmp_path / "out"
    folder.mkdir()
    clean = {}
    for i in range(2):
        clean[f"p{i}.tif"] = crop = 0.25 + 0.5 * astronaut[60 * i : 60 * i + 96, 120:216]
        noisy = add_noise(crop, "gaussian", 10.0, np.random.default_rng(i), clip=False)
        assert 0 < noisy.min() and noisy.max() < 1
        save_image(folder / f"p{i}.tif", noisy, bit_depth=32)
    assert main(["denoise", str(folder), "-o", str(out), "-m", "wavelet", "--noise-sigma", "10", "--json", "--quiet"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()][:-1]
    assert len(lines) == 2
    for line in lines:
        name = Path(line["input"]).name
        estimate = line["estimated_psnr"]
        true = psnr(load_image(out / name).pixels, clean[name])
        assert estimate["sigma"] == 10.0 and estimate["sigma_source"] == "given"
        assert abs(estimate["value"] - true) < 0.3
        assert main(["denoise", str(folder / name), "-o", str(tmp_path / name), "-m", "wavelet", "--noise-sigma", "10", "--json", "--quiet"]) == 0
        single = json.loads(capsys.readouterr().out)
        assert single["estimated_psnr"]["value"] == pytest.approx(estimate["value"], abs=1e-6)
    assert main(["denoise", str(folder), "-o", str(tmp_path / "again"), "-m", "wavelet", "--json", "--no-estimate", "--quiet"]) == 0
    assert all("estimated_psnr" not in json.loads(line) for line in capsys.readouterr().out.splitlines())
