"""Camera RAW files: the loader lists their suffixes; without rawpy the message names the extra
to install; with it, a tiny DNG that the test writes with tifffile (a Bayer mosaic and the DNG
tags LibRaw needs) opens as 16-bit sRGB, turned upright, with its camera EXIF kept on export."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.core.batch import list_inputs
from denoise_studio.core.image import READ_FORMATS, ImageError, load_image, save_image
from denoise_studio.core.metadata import EXIF, exif_tags
from denoise_studio.core.raw import INSTALL_HINT, RAW_FORMATS

MAKE, MODEL = "TestCam", "RAW 1"


def write_dng(path: Path, orientation: int = 1) -> Path:
    """A 64×96 RGGB mosaic of a scene whose red grows from left to right, green from top to
    bottom, as a DNG 1.4 that LibRaw opens."""
    import tifffile

    height, width = 64, 96
    y, x = np.mgrid[0:height, 0:width]
    scene = np.stack([x / width, y / height, np.full((height, width), 0.5)], axis=-1) * 0.8 + 0.1
    mosaic = np.empty((height, width), np.uint16)
    for (dy, dx), channel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (0, 1, 1, 2)):
        mosaic[dy::2, dx::2] = np.rint(scene[dy::2, dx::2, channel] * 4000)
    identity = [v for one in (1, 0, 0, 0, 1, 0, 0, 0, 1) for v in (one * 10000, 10000)]
    tags = [
        (271, "s", 0, MAKE, True), (272, "s", 0, MODEL, True), (274, "H", 1, orientation, True),
        (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),  # CFA repeat and pattern: RGGB
        (50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),  # DNG version, backward version
        (50708, "s", 0, f"{MAKE} {MODEL}", True), (50714, "H", 1, 0, True), (50717, "H", 1, 4095, True),  # black, white
        (50721, "2i", 9, identity, True), (50778, "H", 1, 21, True), (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),
    ]
    tifffile.imwrite(path, mosaic, photometric=32803, extratags=tags, subfiletype=0, metadata=None, software=False)
    return path


def test_raw_suffixes_are_listed_for_dialogs_and_folders(tmp_path: Path) -> None:
    assert set(RAW_FORMATS) <= set(READ_FORMATS)
    for name in ("a.dng", "b.CR2", "c.nef", "d.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_inputs(tmp_path)] == ["a.dng", "b.CR2", "c.nef"]


def test_without_rawpy_the_message_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rawpy", None)  # import rawpy now raises ImportError
    path = tmp_path / "photo.nef"
    path.write_bytes(b"not looked at")
    with pytest.raises(ImageError, match="rawpy") as caught:
        load_image(path)
    assert INSTALL_HINT in str(caught.value) and 'pip install "denoise-studio[raw]"' in str(caught.value)
    assert main(["denoise", str(path), "-o", str(tmp_path / "out.png"), "-m", "median"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and INSTALL_HINT in err[0]


def test_a_dng_opens_as_16_bit_srgb_upright_with_its_exif(tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    source = write_dng(tmp_path / "shot.dng", orientation=6)
    image = load_image(source)
    assert image.bit_depth == 16 and image.pixels.shape == (96, 64, 3)  # turned once, by LibRaw
    red = image.pixels[:, :, 0]
    assert red[-10:].mean() > red[:10].mean() + 0.2  # the scene's left-to-right red runs top to bottom now
    assert len(np.unique(image.pixels)) > 256  # 16-bit precision, not 8-bit steps
    first, _ = exif_tags(image.metadata[EXIF])
    assert (first[0x010F], first[0x0110], first[0x0112]) == (MAKE, MODEL, 1)
    linear = load_image(source, linear_raw=True)
    assert linear.pixels.shape == image.pixels.shape and linear.pixels.mean() < image.pixels.mean()
    out = save_image(tmp_path / "shot.tif", image.pixels, bit_depth=image.bit_depth, metadata=image.metadata)
    again = load_image(out)
    assert again.bit_depth == 16 and again.pixels.shape == (96, 64, 3)
    assert exif_tags(again.metadata[EXIF])[0][0x010F] == MAKE


def test_a_corrupt_raw_file_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    path = tmp_path / "broken.cr2"
    path.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    with pytest.raises(ImageError, match="broken.cr2: cannot decode this RAW file"):
        load_image(path)


def test_a_folder_run_writes_a_raw_file_as_a_16_bit_tiff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rawpy")
    folder = tmp_path / "card"
    folder.mkdir()
    write_dng(folder / "shot.dng")
    assert main(["denoise", str(folder), "-o", str(tmp_path / "out"), "-m", "median", "--quiet"]) == 0, capsys.readouterr().err
    written = load_image(tmp_path / "out" / "shot.tif")
    assert written.bit_depth == 16 and exif_tags(written.metadata[EXIF])[0][0x0110] == MODEL


def test_denoise_raw_linear_gives_the_linear_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rawpy")
    source = write_dng(tmp_path / "shot.dng")
    rendered, linear = tmp_path / "rendered.tif", tmp_path / "linear.tif"
    assert main(["denoise", str(source), "-o", str(rendered), "-m", "median", "--quiet"]) == 0
    assert main(["denoise", str(source), "-o", str(linear), "-m", "median", "--raw", "linear", "--quiet"]) == 0
    folder = tmp_path / "card"
    folder.mkdir()
    write_dng(folder / "shot.dng")
    assert main(["denoise", str(folder), "-o", str(tmp_path / "out"), "-m", "median", "--raw", "linear", "--quiet"]) == 0
    capsys.readouterr()
    # The linear image is darker than the rendered one (no tone curve), as the loader gives it.
    assert load_image(linear).pixels.mean() < load_image(rendered).pixels.mean() - 0.05
    assert abs(load_image(linear).pixels.mean() - load_image(source, linear_raw=True).pixels.mean()) < 0.01
    assert np.array_equal(load_image(tmp_path / "out" / "shot.tif").pixels, load_image(linear).pixels)  # the folder: the same
