"""What a photo carries, kept: EXIF (orientation applied, then reset to 1), the ICC profile, XMP
and DPI through load → export for JPEG, PNG (8 and 16-bit), TIFF (8, 16-bit, float) and WebP;
the bit depth kept; the input never touched; damaged metadata never stops a load; colour
management for display only."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import photo_files as photos
import pytest

from denoise_studio.core.export import export_result
from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.metadata import DPI, EXIF, ICC_PROFILE, ORIENTATION, XMP, apply_orientation, display_pixels, exif_tags, file_metadata
from denoise_studio.core.metrics import psnr
from denoise_studio.core.result import Result
from denoise_studio.core.sidecar import read_sidecar

LOSSY = ("jpeg", "webp")  # WebP is written lossy by default


def test_orientation_matches_pillow() -> None:
    from PIL import Image, ImageOps

    stored = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        image = Image.fromarray(stored)
        image.info["exif"] = exif.tobytes()
        expected = np.asarray(ImageOps.exif_transpose(image))
        np.testing.assert_array_equal(apply_orientation(stored, orientation), expected, err_msg=f"orientation {orientation}")


@pytest.mark.parametrize("kind", list(photos.KINDS))
def test_load_turns_the_pixels_and_reads_what_the_photo_carries(tmp_path: Path, kind: str) -> None:
    path = photos.write_photo(tmp_path, kind)
    image = load_image(path)
    expected = photos.upright(photos.stored_pixels())
    assert image.pixels.shape == expected.shape  # 36×24: turned a quarter clockwise
    assert psnr(image.pixels, expected) > (35 if kind in LOSSY else 45)
    assert image.bit_depth == photos.KINDS[kind][1]
    meta = image.metadata
    assert meta[ORIENTATION] == photos.ORIENTATION_6
    assert meta[ICC_PROFILE] == photos.lab_profile()
    assert meta[XMP] == photos.XMP
    if kind != "webp":
        assert meta[DPI] == pytest.approx((photos.DPI, photos.DPI), abs=0.01)
    first, sub = exif_tags(meta[EXIF])
    assert (first[0x010F], first[0x0110], first[0x0132], first[0x0112]) == (photos.MAKE, photos.MODEL, photos.DATETIME, 1)
    if kind in photos.WITH_EXIF_SUB_IFD:
        assert sub[0x9003] == photos.TAKEN


def _result_of(image_pixels: np.ndarray, source: Path) -> Result:
    return Result("median", "Median filter", None, 1.0 - image_pixels, input_source=str(source))


@pytest.mark.parametrize("kind", list(photos.KINDS))
def test_export_keeps_exif_profile_xmp_dpi_and_depth(tmp_path: Path, kind: str) -> None:
    source = photos.write_photo(tmp_path, kind)
    before = photos.digest(source)
    image = load_image(source)
    suffix, depth = photos.KINDS[kind]
    target = tmp_path / f"out{suffix}"
    result = _result_of(image.pixels, source)
    export_result(result, target, bit_depth=image.bit_depth, protected=(str(source),), metadata=image.metadata)
    assert photos.digest(source) == before
    tags = photos.read_tags(target)
    assert (tags["make"], tags["model"], tags["datetime"], tags["orientation"]) == (photos.MAKE, photos.MODEL, photos.DATETIME, 1)
    assert tags["icc"] == photos.lab_profile() and tags["xmp"] == photos.XMP
    if kind in photos.WITH_EXIF_SUB_IFD:
        assert tags["taken"] == photos.TAKEN
    if kind != "webp":
        assert tags["dpi"] == pytest.approx(photos.DPI, abs=0.01)
    if suffix == ".tif":
        assert tags["dtype"] == {8: np.uint8, 16: np.uint16, 32: np.float32}[depth]
    again = load_image(target)
    assert again.bit_depth == depth and again.pixels.shape == image.pixels.shape  # upright, not turned twice
    assert psnr(again.pixels, result.image) > (35 if kind in LOSSY else 45)
    kept = read_sidecar(target)["extra"]
    assert kept["bit_depth"] == depth
    assert kept["metadata_kept"] == (["exif", "icc_profile", "xmp"] if kind == "webp" else ["exif", "icc_profile", "xmp", "dpi"])


def test_float_tiff_stays_float(tmp_path: Path) -> None:
    source = photos.write_photo(tmp_path, "tiff_float")
    image = load_image(source)
    out = save_image(tmp_path / "out.tif", image.pixels, bit_depth=image.bit_depth, metadata=image.metadata)
    np.testing.assert_array_equal(load_image(out).pixels, image.pixels)
    assert load_image(save_image(tmp_path / "out.png", image.pixels, bit_depth=32)).bit_depth == 16  # PNG holds 16 at most


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".webp"])
def test_metadata_moves_to_another_format(tmp_path: Path, suffix: str) -> None:
    image = load_image(photos.write_photo(tmp_path, "jpeg"))
    target = save_image(tmp_path / f"moved{suffix}", image.pixels, bit_depth=16, metadata=image.metadata)
    tags = photos.read_tags(target)
    assert (tags["make"], tags["taken"], tags["orientation"], tags["icc"]) == (photos.MAKE, photos.TAKEN, 1, photos.lab_profile())


def test_no_metadata_writes_none(tmp_path: Path, small_rgb: np.ndarray) -> None:
    for suffix in (".png", ".tif", ".jpg", ".webp"):
        assert load_image(save_image(tmp_path / f"plain{suffix}", small_rgb)).metadata == {}


def _jpeg_with_app1(payload: bytes) -> bytes:
    from PIL import Image

    plain = photos.save_to_bytes(Image.fromarray(np.full((8, 8, 3), 120, np.uint8)), "JPEG")
    return plain[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + plain[2:]


def _png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    from PIL import Image

    plain = photos.save_to_bytes(Image.fromarray(np.full((8, 8, 3), 120, np.uint8)), "PNG")
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return plain[:33] + chunk + plain[33:]


@pytest.mark.parametrize(
    "name,payload",
    [
        ("bad_exif.jpg", _jpeg_with_app1(b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage")),
        ("bad_exif.png", _png_with_chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\xff\xff")),
        ("bad_icc.png", _png_with_chunk(b"iCCP", b"icc\x00\x00not zlib at all")),
    ],
)
def test_damaged_metadata_never_stops_a_load(tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, payload: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with caplog.at_level(logging.WARNING, logger="denoise_studio.core.metadata"):
        image = load_image(path)
    assert image.pixels.shape == (8, 8, 3)
    assert np.allclose(image.pixels, 120 / 255, atol=0.02)
    assert EXIF not in image.metadata or exif_tags(image.metadata[EXIF])[0].get(0x0112, 1) == 1
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_display_converts_a_profile_but_never_the_pixels(tmp_path: Path) -> None:
    grey = np.full((4, 5, 3), 0.5, np.float32)
    assert (display_pixels(grey, None) == 128).all()
    assert (display_pixels(grey, photos.lab_profile()) == 128).all()  # not an RGB profile: shown as is
    shown = display_pixels(grey, photos.linear_rgb_profile())  # linear light → sRGB's curve
    assert shown.dtype == np.uint8 and shown.shape == (4, 5, 3)
    assert np.all(np.abs(shown.astype(int) - 188) <= 2)
    assert display_pixels(grey[:, :, :1], photos.linear_rgb_profile()).shape == (4, 5, 1)
    out = save_image(tmp_path / "linear.png", grey, metadata={ICC_PROFILE: photos.linear_rgb_profile()})
    again = load_image(out)
    np.testing.assert_allclose(again.pixels, 128 / 255)  # the saved pixels are the processed ones
    assert again.metadata[ICC_PROFILE] == photos.linear_rgb_profile()


def test_an_srgb_profile_is_shown_as_is() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    ramp = np.linspace(0, 1, 3 * 7 * 3, dtype=np.float32).reshape(3, 7, 3)
    np.testing.assert_array_equal(display_pixels(ramp, srgb), display_pixels(ramp, None))


def test_a_cmyk_profile_is_not_kept_for_the_rgb_pixels(tmp_path: Path) -> None:
    from PIL import Image

    cmyk_profile = bytearray(photos.lab_profile())
    cmyk_profile[16:20] = b"CMYK"
    image = Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).convert("CMYK")
    path = tmp_path / "print.jpg"
    path.write_bytes(photos.save_to_bytes(image, "JPEG", icc_profile=bytes(cmyk_profile), exif=photos.exif_block()))
    loaded = load_image(path)
    assert loaded.pixels.shape == (8, 8, 3) and ICC_PROFILE not in loaded.metadata and EXIF in loaded.metadata


def test_file_metadata_reads_without_the_pixels(tmp_path: Path) -> None:
    for kind in ("jpeg", "tiff16"):
        path = photos.write_photo(tmp_path, kind)
        assert file_metadata(path) == load_image(path).metadata
    assert file_metadata(tmp_path / "gone.jpg") == {}
