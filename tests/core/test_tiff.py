"""TIFF through tifffile: planar and grayscale layouts, alpha, float; files tifffile cannot
decode alone (LZW without imagecodecs) still open through OpenCV; a cut file is refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from denoise_studio.core.image import ImageError, load_image, save_image


def test_planar_and_grayscale_tiffs_read_as_written(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 65535, (3, 10, 14), dtype=np.uint16)  # channels first: planar
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    image = load_image(tmp_path / "planar.tif")
    np.testing.assert_array_equal(np.rint(image.pixels * 65535).astype(np.uint16), np.moveaxis(rgb, 0, -1))
    gray = rgb[0]
    tifffile.imwrite(tmp_path / "gray.tif", gray, photometric="minisblack")
    image = load_image(tmp_path / "gray.tif")
    assert image.is_grayscale and image.bit_depth == 16
    np.testing.assert_array_equal(np.rint(image.pixels[:, :, 0] * 65535).astype(np.uint16), gray)


def test_float_tiff_with_alpha_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pixels, alpha = rng.random((9, 11, 3)).astype(np.float32), rng.random((9, 11)).astype(np.float32)
    out = save_image(tmp_path / "f.tif", pixels, bit_depth=32, alpha=alpha)
    back = load_image(out)
    assert back.bit_depth == 32 and back.alpha is not None
    np.testing.assert_array_equal(back.pixels, pixels)
    np.testing.assert_array_equal(back.alpha, alpha)


def test_an_lzw_tiff_opens_through_opencv(tmp_path: Path, small_rgb: np.ndarray) -> None:
    eight = np.rint(small_rgb * 255).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "lzw.tif"), eight[:, :, ::-1])  # OpenCV writes LZW
    np.testing.assert_allclose(load_image(tmp_path / "lzw.tif").pixels, eight / 255.0, atol=1e-6)


def test_a_cut_tiff_is_refused(tmp_path: Path, small_rgb: np.ndarray) -> None:
    data = save_image(tmp_path / "whole.tif", small_rgb, bit_depth=16).read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.tif"):
        load_image(tmp_path / "cut.tif")
