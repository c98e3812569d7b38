"""``denoise-studio methods import / remove`` and an imported model in ``denoise`` and ``bench``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from spandrel_nets import make_network, super_resolution_network

from denoise_studio import cli
from denoise_studio.core.image import load_image, save_image


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_denoise_bench_remove(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    source = tmp_path / "my model.pth"
    torch.save(make_network("dncnn").state_dict(), source)
    code, out, err = run_cli(capsys, "methods", "import", str(source), "--name", "tiny-dncnn", "--licence", "MIT")
    assert code == 0, err
    assert "imported:tiny-dncnn" in out and "DnCNN" in out and "licence: MIT" in out
    card = json.loads((data_dir / "imported" / "tiny-dncnn.json").read_text())
    assert card["architecture"] == "DnCNN" and card["scale"] == 1 and card["source_file"] == "my model.pth" and card["licence"] == "MIT"
    assert (data_dir / "imported" / "tiny-dncnn.pth").read_bytes() == source.read_bytes()

    code, out, err = run_cli(capsys, "methods", "--json", "--family", "Imported")
    listed = json.loads(out)["methods"]
    assert [m["id"] for m in listed] == ["imported:tiny-dncnn"] and listed[0]["available"]
    assert {p["name"] for p in listed[0]["params"]} == {"strength", "tile_size", "tile_overlap"}

    noisy = tmp_path / "noisy.png"
    save_image(noisy, astronaut[40:104, 180:244])
    output = tmp_path / "out.png"
    code, out, err = run_cli(capsys, "denoise", str(noisy), "-m", "imported:tiny-dncnn", "-p", "strength=0.7", "-o", str(output))
    assert code == 0, err
    assert load_image(output).pixels.shape == (64, 64, 3)

    folder = tmp_path / "set"
    folder.mkdir()
    save_image(folder / "a.png", astronaut[40:88, 180:228])
    report = tmp_path / "bench.json"
    code, out, err = run_cli(capsys, "bench", "--data", str(folder), "--methods", "gaussian,imported:tiny-dncnn", "--json", str(report), "--quiet")
    assert code == 0, err
    assert {r["method"] for r in json.loads(report.read_text())["results"]} == {"gaussian", "imported:tiny-dncnn"}

    code, out, err = run_cli(capsys, "methods", "remove", "imported:tiny-dncnn")
    assert code == 0, err
    assert not (data_dir / "imported" / "tiny-dncnn.pth").exists() and not (data_dir / "imported" / "tiny-dncnn.json").exists()
    code, out, err = run_cli(capsys, "denoise", str(noisy), "-m", "imported:tiny-dncnn", "-o", str(output))
    assert code == 2 and "unknown method 'imported:tiny-dncnn'" in err


def test_refusals_are_one_line_errors(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path) -> None:
    sr = tmp_path / "x2.pth"
    torch.save(super_resolution_network().state_dict(), sr)
    code, out, err = run_cli(capsys, "methods", "import", str(sr))
    assert code == 2 and "super-resolution model (×2)" in err and "Traceback" not in err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 40)
    code, out, err = run_cli(capsys, "methods", "import", str(broken))
    assert code == 2 and "corrupt or not a model file" in err
    code, out, err = run_cli(capsys, "methods", "remove", "imported:nothing")
    assert code == 2 and "no imported model imported:nothing" in err
    assert not (data_dir / "imported").exists()
