"""Image loading and saving.

Convention for the whole project: an image is a float32 array H×W×C in [0, 1] with C = 3 (RGB)
or C = 1 (grayscale). Alpha is set aside on load and written back untouched; the source bit
depth is remembered so that a 16-bit (or float TIFF) input can be saved the same way. The
photo's EXIF, ICC profile, XMP and DPI travel in ``ImageData.metadata`` (``core/metadata.py``);
the pixels are turned upright on load and the orientation written back is 1. TIFF goes through
tifffile (``core/tiff.py``), camera RAW files through rawpy (``core/raw.py``), the rest OpenCV.

Loading never modifies the file; saving writes a temporary file beside the target and renames
it over the target, and refuses to write over a protected path (the input).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from denoise_studio.core.errors import ImageError as ImageError  # defined there so that tiff.py and raw.py raise it too
from denoise_studio.core.metadata import ORIENTATION, WRITTEN_KEYS, apply_orientation, embed_in_png, encode_with_pillow, read_metadata
from denoise_studio.core.raw import RAW_FORMATS, read_raw
from denoise_studio.core.tiff import encode_tiff, read_tiff

# OpenCV refuses to decode more pixels than this (a header claiming a gigapixel image is more
# likely an attack or a corrupt file than a photograph); it must be set before cv2 is imported.
MAX_PIXELS = 200_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402

# A corrupt file is reported to the user as an ImageError; OpenCV's own log lines would only
# repeat it on stderr.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

if TYPE_CHECKING:
    import torch

WRITE_FORMATS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
READ_FORMATS = WRITE_FORMATS + RAW_FORMATS
SIXTEEN_BIT_FORMATS = (".png", ".tif", ".tiff")
FLOAT_FORMATS = (".tif", ".tiff")
ALPHA_FORMATS = (".png", ".tif", ".tiff", ".webp")
SAMPLE_PREFIX = "sample:"

# Built-in samples: images that scikit-image ships inside its wheel (no network).
SAMPLES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "camera": "camera.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "coins": "coins.png",
    "moon": "moon.png",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
}
DEFAULT_SAMPLE = "astronaut"


@dataclass
class ImageData:
    """A loaded image: pixels in the project's convention plus what saving it back needs."""

    pixels: np.ndarray
    bit_depth: int = 8
    alpha: np.ndarray | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def is_grayscale(self) -> bool:
        return self.channels == 1

    def describe(self) -> str:
        """A short line for the status bar: ``481×321 RGB 8-bit``."""
        kind = "grayscale" if self.is_grayscale else "RGB"
        if self.alpha is not None:
            kind += "A"
        return f"{self.width}×{self.height} {kind} {'32-bit float' if self.bit_depth == 32 else f'{self.bit_depth}-bit'}"


def sample_names() -> list[str]:
    """Names accepted after ``sample:``."""
    return list(SAMPLES)


def sample_path(name: str) -> Path:
    """The file of a built-in sample image."""
    import skimage

    if name not in SAMPLES:
        raise ImageError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    path = Path(skimage.__file__).parent / "data" / SAMPLES[name]
    if not path.is_file():
        raise ImageError(f"sample {name!r} is missing from the scikit-image installation ({path})")
    return path


def resolve_source(source: str | os.PathLike[str]) -> Path:
    """The file behind a path or a ``sample:NAME`` reference."""
    text = os.fspath(source)
    if text.startswith(SAMPLE_PREFIX):
        return sample_path(text[len(SAMPLE_PREFIX) :])
    return Path(text)


def output_name(path: Path) -> str:
    """The file name of a result in a folder run: the input's own, but a camera RAW file (which
    cannot be written) becomes a TIFF, which keeps its 16 bits and its EXIF."""
    return path.with_suffix(".tif").name if path.suffix.lower() in RAW_FORMATS else path.name


def load_image(source: str | os.PathLike[str], *, linear_raw: bool = False) -> ImageData:
    """Read an image file (or ``sample:NAME``) into the project's convention.

    The pixels are turned as the EXIF orientation says; ``metadata`` holds what the file carries
    (see ``core/metadata.py``). A camera RAW file opens as rendered sRGB, or as linear sRGB with
    ``linear_raw``.

    Raises
    ------
    ImageError
        With a one-line explanation for a missing, unreadable, truncated, corrupt, oversized or
        unsupported file.
    """
    path = resolve_source(source)
    display = os.fspath(source)
    if not path.exists():
        raise ImageError(f"{display}: no such file")
    if path.is_dir():
        raise ImageError(f"{display}: is a folder, not an image")
    suffix = path.suffix.lower()
    if suffix not in READ_FORMATS:
        raise ImageError(f"{display}: unsupported format {suffix or '(no extension)'}; supported: {', '.join(READ_FORMATS)}")
    try:
        data = np.fromfile(path, dtype=np.uint8)  # bytes first: works for non-ASCII paths on every OS
    except OSError as exc:
        raise ImageError(f"{display}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageError(f"{display}: the file is empty")
    if suffix in RAW_FORMATS:
        return _load_raw(path, data, display, linear_raw)
    is_jpeg = data[:3].tobytes() == b"\xff\xd8\xff"
    if is_jpeg and b"\xff\xd9" not in data[-4096:].tobytes():
        # libjpeg fills a truncated file with grey and only warns; a user must be told.
        raise ImageError(f"{display}: the JPEG file is truncated (no end-of-image marker)")
    tiff_samples = read_tiff(data.tobytes(), display) if suffix in FLOAT_FORMATS else None
    if tiff_samples is not None:
        pixels, alpha, depth = _to_float(_checked_size(tiff_samples, display), display, rgb_order=True)
    else:
        # IMREAD_UNCHANGED keeps 16 bits and alpha and ignores the EXIF orientation, applied below.
        pixels, alpha, depth = _to_float(_decode(data, cv2.IMREAD_UNCHANGED, display), display)
    metadata = read_metadata(data.tobytes(), suffix, display)
    orientation = int(metadata.get(ORIENTATION, 1))
    pixels = apply_orientation(pixels, orientation)
    alpha = apply_orientation(alpha, orientation) if alpha is not None else None
    return ImageData(pixels=pixels, bit_depth=depth, alpha=alpha, source=str(path), metadata=metadata)


def _load_raw(path: Path, data: np.ndarray, display: str, linear: bool) -> ImageData:
    """A camera RAW file, already turned upright by LibRaw; its camera EXIF kept where the
    container is a TIFF (DNG and most makers' formats)."""
    samples = _checked_size(read_raw(path, display, linear=linear), display)
    pixels, _, depth = _to_float(samples, display, rgb_order=True)
    metadata = read_metadata(data.tobytes(), ".tif", display)
    metadata.pop(ORIENTATION, None)
    return ImageData(pixels=pixels, bit_depth=depth, source=str(path), metadata=metadata)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for the duration: libpng writes its own "libpng error: …" line
    straight there before OpenCV reports the failure, which we already turn into one message."""
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a GUI without a console): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decode(data: np.ndarray, flags: int, display: str) -> np.ndarray:
    try:
        with _quiet_stderr():
            raw = cv2.imdecode(data, flags)
    except cv2.error as exc:
        if "MAX_IMAGE_PIXELS" in str(exc):
            raise ImageError(f"{display}: the header claims more than {MAX_PIXELS // 1_000_000} megapixels; refusing to decode it") from None
        raise ImageError(f"{display}: cannot decode the image (corrupt or unsupported content)") from None
    if raw is None:
        raise ImageError(f"{display}: not a readable image (corrupt, truncated or of another format)")
    return _checked_size(raw, display)


def _checked_size(raw: np.ndarray, display: str) -> np.ndarray:
    if raw.size == 0 or raw.shape[0] == 0 or raw.shape[1] == 0:
        raise ImageError(f"{display}: the image has no pixels")
    if raw.shape[0] * raw.shape[1] > MAX_PIXELS:
        raise ImageError(f"{display}: {raw.shape[1]}×{raw.shape[0]} is larger than the {MAX_PIXELS // 1_000_000} megapixel limit")
    return raw


def _to_float(raw: np.ndarray, display: str, rgb_order: bool = False) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Samples (OpenCV's BGR order unless ``rgb_order``) → float pixels, alpha, bit depth."""
    if raw.dtype == np.uint8:
        depth, scale = 8, 255.0
    elif raw.dtype == np.uint16:
        depth, scale = 16, 65535.0
    elif raw.dtype in (np.float32, np.float64):
        depth, scale = 32, 1.0
    else:
        raise ImageError(f"{display}: unsupported sample type {raw.dtype}")
    if raw.ndim == 2:
        raw = raw[:, :, None]
    channels = raw.shape[2]
    alpha = None
    if channels == 1:
        colour = raw
    elif channels == 2:
        colour, alpha = raw[:, :, :1], raw[:, :, 1].copy()
    elif channels == 3:
        colour = raw if rgb_order else raw[:, :, ::-1]
    elif channels == 4:
        colour, alpha = (raw[:, :, :3] if rgb_order else raw[:, :, 2::-1]), raw[:, :, 3].copy()
    else:
        raise ImageError(f"{display}: {channels} channels are not supported")
    pixels = np.ascontiguousarray(colour, dtype=np.float32) / np.float32(scale)
    if depth == 32:
        if not np.all(np.isfinite(pixels)):
            raise ImageError(f"{display}: the image contains NaN or infinite values")
        pixels = np.clip(pixels, 0.0, 1.0)
    return pixels, alpha, depth


def save_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    bit_depth: int = 8,
    alpha: np.ndarray | None = None,
    jpeg_quality: int = 95,
    protected: tuple[str | os.PathLike[str] | None, ...] = (),
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write an H×W×C float image in [0, 1] atomically; return the path written.

    ``bit_depth`` 16 is honoured by PNG and TIFF, 32 (float) by TIFF; other formats are written
    at the most they hold. ``alpha`` (H×W, of the source's type) is written back where the format
    holds alpha. ``metadata`` (an ``ImageData.metadata``) puts the EXIF, ICC profile, XMP and DPI
    back into a JPEG, PNG, TIFF or WebP. ``protected`` lists paths that must never be written,
    such as the input file.

    Raises
    ------
    ImageError
        Unsupported format, a protected target, or a folder that cannot be written.
    """
    target = Path(os.fspath(path))
    suffix = target.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ImageError(f"{target}: cannot write {suffix or 'a file without extension'}; use one of {', '.join(WRITE_FORMATS)}")
    for other in protected:
        if other is not None and _same_file(target, Path(os.fspath(other))):
            raise ImageError(f"{target}: refusing to overwrite the input image; choose another name")
    payload = _encode(target, pixels, output_depth(suffix, bit_depth), alpha, jpeg_quality, metadata or {})
    _write_atomically(target, payload)
    return target


def output_depth(suffix: str, bit_depth: int) -> int:
    """The bit depth a file of this kind is written with when ``bit_depth`` is asked for."""
    if bit_depth not in (8, 16, 32):
        raise ImageError(f"bit depth must be 8, 16 or 32 (float TIFF), not {bit_depth}")
    if bit_depth == 32 and suffix not in FLOAT_FORMATS:
        bit_depth = 16
    return bit_depth if suffix in SIXTEEN_BIT_FORMATS else 8


def _encode(target: Path, pixels: np.ndarray, bit_depth: int, alpha: np.ndarray | None, quality: int, metadata: dict[str, Any]) -> bytes:
    suffix = target.suffix.lower()
    samples = _to_samples(pixels, bit_depth)
    kept_alpha = None
    if alpha is not None and suffix in ALPHA_FORMATS:
        kept_alpha = _match_depth(alpha, bit_depth)
        if kept_alpha.shape[:2] != samples.shape[:2]:
            raise ImageError("the alpha channel does not match the image size")
    carried = {key: metadata[key] for key in WRITTEN_KEYS.get(suffix, ()) if metadata.get(key)}
    try:
        if suffix in FLOAT_FORMATS:
            return encode_tiff(samples, kept_alpha, carried)
        if carried and suffix in (".jpg", ".jpeg", ".webp"):
            top = 101 if suffix == ".webp" else 100
            return encode_with_pillow(suffix, samples if samples.shape[2] == 3 else samples[:, :, 0], kept_alpha, carried, int(np.clip(quality, 1, top)))
    except (OSError, ValueError, TypeError) as exc:
        raise ImageError(f"{target}: the encoder failed ({exc})") from None
    encoded = np.ascontiguousarray(samples[:, :, ::-1]) if samples.shape[2] == 3 else samples[:, :, 0]
    if kept_alpha is not None:
        encoded = np.dstack([encoded, kept_alpha])
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(np.clip(quality, 1, 100))]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(np.clip(quality, 1, 101))]
    ok, buffer = cv2.imencode(suffix, encoded, params)
    if not ok:
        raise ImageError(f"{target}: the encoder failed")
    if suffix == ".png" and carried:
        return embed_in_png(buffer.tobytes(), carried, samples.shape[1], samples.shape[0])
    return bytes(buffer.tobytes())


def _to_samples(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float pixels → H×W×C samples in RGB order: uint8, uint16, or float32 for ``bit_depth`` 32."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        raise ImageError(f"cannot save an array of shape {pixels.shape}")
    clipped = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0)
    if bit_depth == 32:
        return np.ascontiguousarray(clipped, dtype=np.float32)
    top = 65535.0 if bit_depth == 16 else 255.0
    return np.rint(clipped * top).astype(np.uint16 if bit_depth == 16 else np.uint8)


def _match_depth(alpha: np.ndarray, bit_depth: int) -> np.ndarray:
    if bit_depth == 32:
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(alpha.dtype, 1.0)
        return np.clip(alpha.astype(np.float32) / np.float32(scale), 0.0, 1.0)
    if bit_depth == 16 and alpha.dtype == np.uint8:
        return alpha.astype(np.uint16) * 257
    if bit_depth == 8 and alpha.dtype == np.uint16:
        return (alpha // 257).astype(np.uint8)
    if alpha.dtype not in (np.uint8, np.uint16):
        top = 65535.0 if bit_depth == 16 else 255.0
        return np.rint(np.clip(alpha, 0, 1) * top).astype(np.uint16 if bit_depth == 16 else np.uint8)
    return alpha


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _write_atomically(target: Path, payload: bytes) -> None:
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ImageError(f"{target}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ImageError(f"{target}: cannot write in {folder} ({exc.strerror or exc})") from None
    try:
        # mkstemp creates the file readable by its owner only; an export gets the mode any new
        # file would get (an existing target keeps its own).
        mode = (target.stat().st_mode & 0o7777) if target.is_file() else (0o666 & ~_UMASK)
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ImageError(f"{target}: cannot write ({exc.strerror or exc})") from None


def write_text_atomically(target: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (a sidecar, a CSV) the same atomic way as images."""
    path = Path(os.fspath(target))
    try:
        _write_atomically(path, text.encode("utf-8"))
    except ImageError as exc:
        raise OSError(str(exc)) from None
    return path


def to_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """H×W×C float array → 1×C×H×W float32 tensor (a copy)."""
    import torch

    array = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(array.copy()).unsqueeze(0).to(device)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """1×C×H×W (or C×H×W) tensor → H×W×C float32 array that owns its memory."""
    t = tensor.detach()
    if t.ndim == 4:
        t = t[0]
    return np.array(t.float().cpu().numpy().transpose(1, 2, 0), dtype=np.float32, copy=True)


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """A three-channel view for display or for methods that need colour."""
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
