"""Image I/O: every format, 8 and 16 bits, grayscale, alpha, EXIF orientation, bad files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core.image import (
    ImageError,
    as_rgb,
    load_image,
    sample_names,
    save_image,
    to_numpy,
    to_tensor,
    write_text_atomically,
)
from denoise_studio.core.metrics import psnr

LOSSLESS = [".png", ".tif", ".tiff", ".bmp"]
LOSSY = [".jpg", ".jpeg", ".webp"]


def quantised(x: np.ndarray, bits: int = 8) -> np.ndarray:
    top = 2**bits - 1
    return (np.rint(x * top) / top).astype(np.float32)


@pytest.mark.parametrize("suffix", LOSSLESS)
def test_lossless_round_trip_rgb(tmp_path: Path, small_rgb: np.ndarray, suffix: str) -> None:
    path = save_image(tmp_path / f"x{suffix}", small_rgb)
    back = load_image(path)
    assert back.pixels.dtype == np.float32 and back.pixels.shape == small_rgb.shape
    assert back.bit_depth == 8
    np.testing.assert_array_equal(back.pixels, quantised(small_rgb))


@pytest.mark.parametrize("suffix", LOSSY)
def test_lossy_round_trip_rgb(tmp_path: Path, small_rgb: np.ndarray, suffix: str) -> None:
    back = load_image(save_image(tmp_path / f"x{suffix}", small_rgb, jpeg_quality=95))
    assert back.pixels.shape == small_rgb.shape
    assert psnr(back.pixels, small_rgb) > 35


def test_colour_order_is_rgb(tmp_path: Path) -> None:
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0
    back = load_image(save_image(tmp_path / "red.png", red)).pixels
    assert back[0, 0].tolist() == [1.0, 0.0, 0.0]
    # And a file written by another program (Pillow) reads as RGB too.
    from PIL import Image

    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "pil.png")
    assert load_image(tmp_path / "pil.png").pixels[0, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_round_trip(tmp_path: Path, small_rgb: np.ndarray, suffix: str) -> None:
    fine = np.clip(small_rgb + np.float32(1 / 70000), 0, 1)  # below 8-bit resolution
    back = load_image(save_image(tmp_path / f"x{suffix}", fine, bit_depth=16))
    assert back.bit_depth == 16
    np.testing.assert_array_equal(back.pixels, quantised(fine, 16))
    assert np.abs(back.pixels - fine).max() <= 0.5 / 65535 + 1e-7


def test_sixteen_bits_fall_back_to_eight_where_unsupported(tmp_path: Path, small_rgb: np.ndarray) -> None:
    assert load_image(save_image(tmp_path / "x.bmp", small_rgb, bit_depth=16)).bit_depth == 8


@pytest.mark.parametrize("suffix", LOSSLESS + [".jpg"])
def test_grayscale_stays_one_channel(tmp_path: Path, small_gray: np.ndarray, suffix: str) -> None:
    back = load_image(save_image(tmp_path / f"g{suffix}", small_gray))
    assert back.pixels.shape == small_gray.shape and back.is_grayscale
    assert psnr(back.pixels, small_gray) > 35


def test_grayscale_webp_comes_back_as_equal_channels(tmp_path: Path, small_gray: np.ndarray) -> None:
    """WebP has no grayscale mode: the encoder stores three equal channels."""
    back = load_image(save_image(tmp_path / "g.webp", small_gray)).pixels
    assert back.shape == small_gray.shape[:2] + (3,)
    assert psnr(back[:, :, 1:2], small_gray) > 35


def test_sixteen_bit_grayscale(tmp_path: Path, small_gray: np.ndarray) -> None:
    back = load_image(save_image(tmp_path / "g16.png", small_gray, bit_depth=16))
    assert back.bit_depth == 16 and back.channels == 1
    np.testing.assert_array_equal(back.pixels, quantised(small_gray, 16))


@pytest.mark.parametrize("suffix,bits", [(".png", 8), (".png", 16), (".tif", 8), (".webp", 8)])
def test_alpha_is_set_aside_and_written_back_untouched(tmp_path: Path, small_rgb: np.ndarray, suffix: str, bits: int) -> None:
    from PIL import Image

    h, w = small_rgb.shape[:2]
    alpha = (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)
    rgba = np.dstack([np.rint(small_rgb * 255).astype(np.uint8), alpha])
    src = tmp_path / f"in{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(rgba, "RGBA").save(src, **options)
    loaded = load_image(src)
    assert loaded.pixels.shape == (h, w, 3)
    np.testing.assert_array_equal(loaded.alpha, alpha)
    # A "result" (inverted colours) is written with the source's alpha.
    out = save_image(tmp_path / f"out{suffix}", 1.0 - loaded.pixels, alpha=loaded.alpha, bit_depth=bits)
    again = load_image(out)
    expected = alpha.astype(np.uint16) * 257 if again.bit_depth == 16 else alpha
    np.testing.assert_array_equal(again.alpha, expected)
    if suffix != ".webp":  # WebP is written lossy by default; its alpha stays lossless
        np.testing.assert_allclose(again.pixels, 1.0 - loaded.pixels, atol=1e-6)


def test_alpha_is_dropped_for_formats_without_it(tmp_path: Path, small_rgb: np.ndarray) -> None:
    alpha = np.full(small_rgb.shape[:2], 128, np.uint8)
    back = load_image(save_image(tmp_path / "x.jpg", small_rgb, alpha=alpha))
    assert back.alpha is None and back.pixels.shape == small_rgb.shape


def _jpeg_with_orientation(orientation: int, pixels: np.ndarray) -> bytes:
    from PIL import Image

    image = Image.fromarray(np.rint(pixels * 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=98, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    "orientation,transform",
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored rotated: display turns it 90° clockwise
        (8, lambda a: np.rot90(a, 1)),
        (2, lambda a: a[:, ::-1]),
    ],
)
def test_exif_orientation_is_applied_for_jpeg(tmp_path: Path, astronaut: np.ndarray, orientation: int, transform) -> None:  # type: ignore[no-untyped-def]
    stored = np.ascontiguousarray(astronaut[100:140, 150:210])  # 40×60, not square
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(_jpeg_with_orientation(orientation, stored))
    loaded = load_image(path).pixels
    expected = transform(stored)
    assert loaded.shape == expected.shape
    assert psnr(loaded, np.ascontiguousarray(expected)) > 30


def test_samples_load(tmp_path: Path) -> None:
    assert {"astronaut", "chelsea", "coffee"} <= set(sample_names())
    image = load_image("sample:chelsea")
    assert image.pixels.shape[2] == 3 and image.source is not None
    assert load_image("sample:camera").is_grayscale
    with pytest.raises(ImageError, match="unknown sample"):
        load_image("sample:nothing")


def test_missing_empty_garbage_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "absent.png")
    (tmp_path / "empty.png").touch()
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "garbage.jpg").write_bytes(os.urandom(2000))
    with pytest.raises(ImageError):
        load_image(tmp_path / "garbage.jpg")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path / "dir.png")
    (tmp_path / "text.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageError, match="unsupported format"):
        load_image(tmp_path / "text.gif")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
def test_truncated_files_are_refused(tmp_path: Path, small_rgb: np.ndarray, suffix: str) -> None:
    whole = save_image(tmp_path / f"whole{suffix}", small_rgb).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError):
        load_image(cut)


def test_loading_never_modifies_the_file(tmp_path: Path, small_rgb: np.ndarray) -> None:
    path = save_image(tmp_path / "x.png", small_rgb)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    load_image(path)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime


def test_saving_refuses_to_overwrite_the_input(tmp_path: Path, small_rgb: np.ndarray) -> None:
    src = save_image(tmp_path / "in.png", small_rgb)
    before = src.read_bytes()
    with pytest.raises(ImageError, match="refusing to overwrite the input"):
        save_image(src, small_rgb * 0.5, protected=(src,))
    with pytest.raises(ImageError, match="refusing to overwrite the input"):
        save_image(tmp_path / "sub" / ".." / "in.png", small_rgb * 0.5, protected=(str(src),))
    assert src.read_bytes() == before


def test_saving_into_a_missing_or_unwritable_folder(tmp_path: Path, small_rgb: np.ndarray) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        save_image(tmp_path / "missing" / "x.png", small_rgb)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImageError):
        save_image(blocker / "x.png", small_rgb)
    with pytest.raises(ImageError, match="cannot write .gif"):
        save_image(tmp_path / "x.gif", small_rgb)
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            with pytest.raises(ImageError, match="cannot write"):
                save_image(locked / "x.png", small_rgb)
        finally:
            locked.chmod(0o755)


def test_saving_is_atomic(tmp_path: Path, small_rgb: np.ndarray) -> None:
    target = save_image(tmp_path / "x.png", small_rgb)
    save_image(target, small_rgb * 0.5)  # overwrite (not an input)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no temporary file left
    text = write_text_atomically(tmp_path / "x.png.json", "{}")
    assert text.read_text() == "{}"


def test_values_are_clipped_and_nan_safe_on_save(tmp_path: Path) -> None:
    wild = np.array([[[-0.5, 0.5, 1.5]], [[np.nan, 0.25, 1.0]]], np.float32)
    back = load_image(save_image(tmp_path / "w.png", wild)).pixels
    assert back.min() >= 0 and back.max() <= 1
    np.testing.assert_allclose(back[0, 0], [0.0, 128 / 255, 1.0], atol=1e-7)
    assert back[1, 0, 0] == 0.0  # NaN is written as 0


def test_tensor_conversions_copy(odd_rgb: np.ndarray) -> None:
    t = to_tensor(odd_rgb)
    assert tuple(t.shape) == (1, 3, 31, 37)
    back = to_numpy(t)
    np.testing.assert_array_equal(back, odd_rgb)
    t.mul_(0)
    assert back.max() > 0 and odd_rgb.max() > 0
    assert as_rgb(odd_rgb[:, :, :1]).shape == odd_rgb.shape


def test_written_files_get_the_usual_permissions(tmp_path: Path, small_rgb: np.ndarray) -> None:
    """Atomic writes go through mkstemp (owner-only); the result must not stay 0600."""
    mask = os.umask(0o022)
    os.umask(mask)
    target = save_image(tmp_path / "x.png", small_rgb)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    target.chmod(0o640)
    save_image(target, small_rgb * 0.5)  # an existing file keeps its mode
    assert target.stat().st_mode & 0o777 == 0o640
    text = write_text_atomically(tmp_path / "x.png.json", "{}")
    assert text.stat().st_mode & 0o777 == 0o666 & ~mask
