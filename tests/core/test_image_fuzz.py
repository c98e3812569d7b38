"""Fuzzing the image loader: every hostile file gets an ImageError (or a valid image) quickly.

Each case must end within a second with either a well-formed :class:`ImageData` or an
:class:`ImageError` whose message names the file; nothing else may escape and nothing may hang.
The number of cases is set by the hypothesis profile (see conftest.py) and reported in
docs/RELIABILITY.md.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from denoise_studio.core.image import ImageError, load_image, save_image

FORMATS = (".png", ".jpg", ".tif", ".bmp", ".webp")
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)


@pytest.fixture(scope="module")
def encodings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Valid files of every format: an RGB, a grayscale and a 16-bit RGBA PNG."""
    folder = tmp_path_factory.mktemp("valid")
    rng = np.random.default_rng(3)
    rgb = rng.random((23, 29, 3)).astype(np.float32)
    out = {}
    for ext in FORMATS:
        out[ext] = save_image(folder / f"rgb{ext}", rgb).read_bytes()
    out["gray.png"] = save_image(folder / "gray.png", rgb[:, :, :1]).read_bytes()
    alpha = rng.integers(0, 65535, (23, 29), dtype=np.uint16)
    out["rgba16.png"] = save_image(folder / "rgba16.png", rgb, bit_depth=16, alpha=alpha).read_bytes()
    return out


def _check(path: Path) -> None:
    start = time.perf_counter()
    try:
        image = load_image(path)
    except ImageError as exc:
        assert str(path) in str(exc) or path.name in str(exc)
    else:
        assert image.pixels.dtype == np.float32
        assert image.pixels.ndim == 3 and image.pixels.shape[2] in (1, 3)
        assert np.isfinite(image.pixels).all()
        assert 0.0 <= float(image.pixels.min()) and float(image.pixels.max()) <= 1.0
    assert time.perf_counter() - start < 1.0


def _write(folder: Path, name: str, payload: bytes) -> Path:
    path = folder / name
    path.write_bytes(payload)
    return path


@FUZZ
@given(kind=st.sampled_from([*FORMATS, "gray.png", "rgba16.png"]), fraction=st.floats(0.0, 0.999))
def test_truncated_files(tmp_path: Path, encodings: dict[str, bytes], kind: str, fraction: float) -> None:
    data = encodings[kind]
    cut = int(len(data) * fraction)
    path = _write(tmp_path, "cut" + Path(kind).suffix, data[:cut])
    if cut < len(data) * 0.98:
        # A file cut well before its end must never be accepted as a complete image.
        with pytest.raises(ImageError):
            load_image(path)
    _check(path)


@FUZZ
@given(
    kind=st.sampled_from([*FORMATS, "gray.png", "rgba16.png"]),
    flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(1, 255)), min_size=1, max_size=8),
)
def test_corrupted_bytes(tmp_path: Path, encodings: dict[str, bytes], kind: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(encodings[kind])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    _check(_write(tmp_path, "flip" + Path(kind).suffix, bytes(data)))


@FUZZ
@given(ext=st.sampled_from(FORMATS), payload=st.binary(min_size=0, max_size=2048))
def test_garbage_bytes(tmp_path: Path, ext: str, payload: bytes) -> None:
    path = _write(tmp_path, "garbage" + ext, payload)
    with pytest.raises(ImageError):
        load_image(path)
    _check(path)


def _png(width: int, height: int, idat: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(idat)) + chunk(b"IEND", b"")


def _bmp(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + b"\0" * 64


@FUZZ
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1))
def test_headers_claiming_any_size(tmp_path: Path, width: int, height: int) -> None:
    """A header may claim gigapixels or zero pixels; the body holds almost nothing."""
    _check(_write(tmp_path, "claim.png", _png(width, height, b"\0" * 64)))
    _check(_write(tmp_path, "claim.bmp", _bmp(width, height)))


def test_huge_header_has_a_clear_message(tmp_path: Path) -> None:
    path = _write(tmp_path, "huge.png", _png(100_000, 100_000, b"\0" * 64))
    with pytest.raises(ImageError, match="megapixels"):
        load_image(path)


def test_zero_sized_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        load_image(_write(tmp_path, "zero.png", _png(0, 10)))


@pytest.mark.parametrize("name", ["image.gif", "image.xyz", "image", "image.PNG.txt"])
def test_unsupported_formats(tmp_path: Path, encodings: dict[str, bytes], name: str) -> None:
    path = _write(tmp_path, name, encodings[".png"])
    with pytest.raises(ImageError, match="unsupported format"):
        load_image(path)


@FUZZ
@given(stem=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0"), min_size=1, max_size=24))
def test_paths_with_spaces_and_non_ascii(tmp_path: Path, stem: str) -> None:
    stem = stem.strip().strip(".")
    if not stem or len(stem.encode("utf-8")) > 200:
        return
    image = np.linspace(0, 1, 7 * 9 * 3, dtype=np.float32).reshape(7, 9, 3)
    path = save_image(tmp_path / f"{stem} ü 图.png", image)
    loaded = load_image(path)
    assert np.abs(loaded.pixels - image).max() <= 0.5 / 255 + 1e-6


def test_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
