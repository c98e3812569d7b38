"""Sidecar records: named after the export, atomic, complete, readable back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core.sidecar import SidecarError, build_record, read_sidecar, sidecar_path, write_sidecar


def test_sidecar_is_named_after_the_image(tmp_path: Path) -> None:
    assert sidecar_path(tmp_path / "result.png") == tmp_path / "result.png.json"


def test_record_round_trip(tmp_path: Path) -> None:
    record = build_record(
        input_path="sample:astronaut",
        method_id="bm3d",
        params={"sigma": None, "profile": "np"},
        seed=7,
        device="cpu",
        metrics={"psnr": np.float32(30.5), "ssim": float("nan")},
        weights={"file": "x.safetensors", "sha256": "ab" * 32},
        extra={"noise": {"model": "gaussian", "sigma": 25}},
    )
    for key in ("denoise_studio", "python", "numpy", "opencv", "platform"):
        assert key in record["versions"]
    assert ("torch" in record["versions"]) == ("torch" in sys.modules)
    assert record["created"].endswith("+00:00")
    written = write_sidecar(tmp_path / "result.png", record)
    assert written == tmp_path / "result.png.json"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    back = read_sidecar(written)
    assert back == json.loads(json.dumps(record))
    assert back["input"] == "sample:astronaut"
    assert back["seed"] == 7 and back["params"] == {"sigma": None, "profile": "np"}
    assert back["metrics"]["psnr"] == pytest.approx(30.5) and back["metrics"]["ssim"] is None
    # The image path itself finds its sidecar.
    assert read_sidecar(tmp_path / "result.png") == back


def test_input_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    record = build_record(input_path="in.png", method_id="nlm", params={}, seed=0, device="cpu", metrics=None)
    assert record["input"] == str((tmp_path / "in.png").resolve())


def test_bad_sidecars_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="no such"):
        read_sidecar(tmp_path / "missing.png.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SidecarError, match="not valid JSON"):
        read_sidecar(bad)
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(SidecarError, match="not a Denoise Studio sidecar"):
        read_sidecar(other)


def test_the_record_says_what_the_run_computed_on() -> None:
    info = {"device": "cpu", "tile_size": 128, "tiles": 9, "threads": 1}
    record = build_record(input_path=None, method_id="formresnet", params={}, seed=0, device="cuda", metrics=None, info=info)
    # a network that fell back to the CPU reports the CPU; the tile side is the one finally used
    assert record["compute"] == {"device": "cpu", "threads": 1, "tile_size": 128, "tiles": 9}
    plain = build_record(input_path=None, method_id="nlm", params={}, seed=0, device="cpu", metrics=None)
    assert plain["compute"]["device"] == "cpu" and "tile_size" not in plain["compute"]


def test_a_network_result_written_by_the_cli_keeps_its_tile_size(astronaut: np.ndarray, tmp_path: Path) -> None:
    from denoise_studio.cli import main
    from denoise_studio.core.image import save_image

    save_image(tmp_path / "in.png", astronaut[:96, :96])
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "-m", "formresnet",
                 "-p", "tile_size=64", "--quiet"]) == 0
    compute = read_sidecar(tmp_path / "out.png")["compute"]
    assert compute["tile_size"] == 64 and compute["tiles"] == 4 and compute["threads"] >= 1
