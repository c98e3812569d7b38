"""``denoise-studio denoise`` keeps what a photo carries, for one file and for a folder: EXIF
(orientation reset to 1 on upright pixels), the ICC profile, XMP, DPI and the bit depth; the
inputs are never touched. The files are made by tests/photo_files.py with Pillow and tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import photo_files
import pytest

from denoise_studio.cli import main
from denoise_studio.core.image import load_image
from denoise_studio.core.sidecar import read_sidecar


def _check_output(out: Path, kind: str) -> None:
    tags = photo_files.read_tags(out)
    assert (tags["make"], tags["model"], tags["datetime"], tags["orientation"]) == (
        photo_files.MAKE, photo_files.MODEL, photo_files.DATETIME, 1)
    assert tags["icc"] == photo_files.lab_profile() and tags["xmp"] == photo_files.XMP
    if kind in photo_files.WITH_EXIF_SUB_IFD:
        assert tags["taken"] == photo_files.TAKEN
    if kind != "webp":
        assert tags["dpi"] == pytest.approx(photo_files.DPI, abs=0.01)
    depth = photo_files.KINDS[kind][1]
    if out.suffix == ".tif":
        assert tags["dtype"] == {8: np.uint8, 16: np.uint16, 32: np.float32}[depth]
    written = load_image(out)
    assert written.pixels.shape == (36, 24, 3)  # stored upright: the input's 24×36 turned a quarter
    assert written.bit_depth == depth
    assert read_sidecar(out)["extra"]["metadata_kept"][:3] == ["exif", "icc_profile", "xmp"]


@pytest.mark.parametrize("kind", list(photo_files.KINDS))
def test_denoise_one_photo_keeps_its_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    source = photo_files.write_photo(tmp_path, kind)
    before = photo_files.digest(source)
    out = tmp_path / f"out{source.suffix}"
    assert main(["denoise", str(source), "-o", str(out), "-m", "median", "--quiet"]) == 0, capsys.readouterr().err
    assert photo_files.digest(source) == before
    _check_output(out, kind)


def test_denoise_folder_keeps_each_photos_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sources = {kind: photo_files.write_photo(folder, kind) for kind in photo_files.KINDS}
    before = {kind: photo_files.digest(path) for kind, path in sources.items()}
    out_dir = tmp_path / "out"
    assert main(["denoise", str(folder), "-o", str(out_dir), "-m", "median", "--quiet"]) == 0, capsys.readouterr().err
    for kind, path in sources.items():
        assert photo_files.digest(path) == before[kind]
        _check_output(out_dir / path.name, kind)
