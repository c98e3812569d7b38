"""What a photo carries besides its pixels: EXIF, the ICC profile, XMP and the resolution (DPI).

Read on load into ``ImageData.metadata`` and written back by ``save_image`` for JPEG, PNG, TIFF
and WebP. The keys:

``exif``          the EXIF block (``Exif\\0\\0`` + a little TIFF), its Orientation reset to 1
                  because the loader has already turned the pixels
``icc_profile``   the ICC profile, bytes as embedded
``xmp``           the XMP packet, bytes
``dpi``           (x, y) pixels per inch
``orientation``   the EXIF orientation found in the file (1 to 8), for the record

A profile other than sRGB is applied only to what is shown (:func:`display_pixels`): the pixels
that are denoised and saved stay in the file's own colour space, with its profile attached.
Metadata that cannot be read never stops an image from loading: it is dropped with a logged
warning.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXIF, ICC_PROFILE, XMP, DPI, ORIENTATION = "exif", "icc_profile", "xmp", "dpi", "orientation"
#: The entries that are written back into a saved file (``orientation`` is only recorded).
KEPT_KEYS = (EXIF, ICC_PROFILE, XMP, DPI)
#: What each format can carry (WebP has no resolution of its own: only what its EXIF says).
WRITTEN_KEYS: dict[str, tuple[str, ...]] = {
    ".jpg": KEPT_KEYS, ".jpeg": KEPT_KEYS, ".png": KEPT_KEYS, ".tif": KEPT_KEYS, ".tiff": KEPT_KEYS, ".webp": (EXIF, ICC_PROFILE, XMP),
}
TIFF_SUFFIXES = (".tif", ".tiff")

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIENTATION_TAG = 0x0112
PIXEL_X_DIMENSION, PIXEL_Y_DIMENSION = 0xA002, 0xA003
XMP_TAG, ICC_TAG = 700, 34675
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296
#: Text tags of the first IFD that describe the photo rather than the layout of its pixels: what
#: a TIFF (a DNG too) keeps in IFD0 of all the tags there.
TIFF_TEXT_TAGS = (269, 270, 271, 272, 305, 306, 315, 316, 33432)
#: IFD0 tags that locate pixel data or other IFDs: meaningless once the block is moved.
LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323, 324, 325, 330, 513, 514})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"


def read_metadata(data: bytes, suffix: str, display: str) -> dict[str, Any]:
    """EXIF, ICC profile, XMP, DPI and orientation of an encoded file; ``{}`` when it has none.

    Never raises: metadata that cannot be read is dropped with a logged warning, and a container
    that only OpenCV can decode simply yields nothing.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = _read_tiff_tags(data) if suffix in TIFF_SUFFIXES else _read_with_pillow(data)
        if found.get(ICC_PROFILE, b"")[16:20] == b"CMYK":
            del found[ICC_PROFILE]  # the decoder gave RGB: a CMYK profile would misdescribe it
        damage = [w for w in caught if w.category.__name__ != "DecompressionBombWarning"]  # size is OpenCV's to judge
        if damage:
            log.warning("%s: part of its metadata is damaged (%s)", display, damage[0].message)
        return found
    except Exception as exc:  # noqa: BLE001 - corrupt metadata must never stop the pixels from loading
        log.warning("%s: its metadata cannot be read and is dropped (%s)", display, exc)
        return {}


def file_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the file at ``path`` carries, without decoding its pixels; ``{}`` when it cannot be
    read (a session restored after its input moved)."""
    from denoise_studio.core.raw import RAW_FORMATS

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError:
        return {}
    suffix = file.suffix.lower()
    return read_metadata(data, ".tif" if suffix in RAW_FORMATS else suffix, str(path))


def _read_with_pillow(data: bytes) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError):
        return {}  # OpenCV decoded what Pillow cannot identify: there is nothing to keep
    with image:
        # Pillow decodes a whole PNG to look for an EXIF chunk it has not met before the pixels.
        exif = image.getexif() if image.format != "PNG" or b"eXIf" in data else Image.Exif()
        found: dict[str, Any] = {}
        if exif:
            found[ORIENTATION] = _orientation_value(exif.get(ORIENTATION_TAG))
            found[EXIF] = _clean_exif(exif, keep=lambda tag: tag not in LAYOUT_TAGS)
        info = image.info
        if info.get("icc_profile"):
            found[ICC_PROFILE] = bytes(info["icc_profile"])
        xmp = info.get("xmp") or info.get(PNG_XMP_KEYWORD.decode())
        if xmp:
            found[XMP] = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
        dpi = info.get("dpi")
        if dpi and all(float(v) > 0 for v in dpi):
            found[DPI] = (round(float(dpi[0]), 3), round(float(dpi[1]), 3))
    return found


def _read_tiff_tags(data: bytes) -> dict[str, Any]:
    """The first IFD of a TIFF (or a DNG, or a TIFF-based camera RAW), whatever its pixels are."""
    from PIL import Image

    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return {}  # a BigTIFF or a vendor's own variant of the header: nothing read
    tags = Image.Exif()
    tags.load_from_fp(io.BytesIO(data))
    found: dict[str, Any] = {}
    if tags.get(ORIENTATION_TAG) is not None:
        found[ORIENTATION] = _orientation_value(tags.get(ORIENTATION_TAG))
    if any(tag in tags for tag in (*TIFF_TEXT_TAGS, EXIF_IFD, GPS_IFD)):
        found[EXIF] = _clean_exif(tags, keep=lambda tag: tag in TIFF_TEXT_TAGS or tag == ORIENTATION_TAG)
    if isinstance(tags.get(ICC_TAG), bytes) and tags[ICC_TAG]:
        found[ICC_PROFILE] = tags[ICC_TAG]
    xmp = tags.get(XMP_TAG)
    if xmp:
        found[XMP] = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    dpi = _tiff_dpi(tags.get(X_RESOLUTION), tags.get(Y_RESOLUTION), tags.get(RESOLUTION_UNIT, 2))
    if dpi is not None:
        found[DPI] = dpi
    return found


def _tiff_dpi(x: Any, y: Any, unit: Any) -> tuple[float, float] | None:
    if x is None or y is None or unit not in (2, 3) or float(x) <= 0 or float(y) <= 0:
        return None
    per_inch = 2.54 if unit == 3 else 1.0
    return round(float(x) * per_inch, 3), round(float(y) * per_inch, 3)


def _orientation_value(value: Any) -> int:
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _clean_exif(source: Any, keep: Callable[[int], bool]) -> bytes:
    """The block to write back: IFD0 tags that ``keep`` admits, the Exif and GPS sub-IFDs, no
    thumbnail, and the orientation reset to 1."""
    from PIL import Image

    clean = Image.Exif()
    for tag, value in source.items():
        if tag not in (EXIF_IFD, GPS_IFD) and keep(tag):
            clean[tag] = value
    for pointer in (EXIF_IFD, GPS_IFD):
        if pointer in source:
            sub_ifd = dict(source.get_ifd(pointer))
            sub_ifd.pop(0xA005, None)  # the Interoperability pointer: an offset into the old block
            if sub_ifd:
                clean[pointer] = sub_ifd
    if ORIENTATION_TAG in clean:
        clean[ORIENTATION_TAG] = 1
    return bytes(clean.tobytes())


def exif_for_output(exif: bytes, width: int, height: int) -> bytes:
    """``exif`` with the pixel dimensions it states (if any) set to the image written."""
    from PIL import Image

    block = Image.Exif()
    block.load(exif)
    sub_ifd = block.get_ifd(EXIF_IFD)
    if PIXEL_X_DIMENSION in sub_ifd or PIXEL_Y_DIMENSION in sub_ifd:
        sub_ifd[PIXEL_X_DIMENSION], sub_ifd[PIXEL_Y_DIMENSION] = width, height
    if ORIENTATION_TAG in block:
        block[ORIENTATION_TAG] = 1
    return bytes(block.tobytes())


def exif_tags(exif: bytes) -> tuple[dict[int, Any], dict[int, Any]]:
    """IFD0 and the Exif sub-IFD of a block, tag number → value."""
    from PIL import Image

    block = Image.Exif()
    block.load(exif)
    return {tag: value for tag, value in block.items() if tag not in (EXIF_IFD, GPS_IFD)}, dict(block.get_ifd(EXIF_IFD))


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an H×W(×C) array stored with EXIF ``orientation`` (1 to 8) upright."""
    turns: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation)
    return array if turn is None else np.ascontiguousarray(turn(array))


def kept(metadata: dict[str, Any], suffix: str) -> list[str]:
    """The names of the entries that a file of this kind is written with, for the sidecar."""
    return [key for key in WRITTEN_KEYS.get(suffix.lower(), ()) if metadata.get(key)]


# -- writing ---------------------------------------------------------------------------------


def embed_in_png(png: bytes, metadata: dict[str, Any], width: int, height: int) -> bytes:
    """An encoded PNG with the ICC profile (iCCP), EXIF (eXIf), XMP (iTXt) and DPI (pHYs) added
    after its header chunk; chunks of those kinds already there are replaced."""
    if not png.startswith(PNG_SIGNATURE):
        return png
    added: list[bytes] = []
    if metadata.get(ICC_PROFILE):
        added.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata[ICC_PROFILE])))
    if metadata.get(EXIF):
        added.append(_png_chunk(b"eXIf", exif_for_output(metadata[EXIF], width, height)[6:]))
    if metadata.get(XMP):
        added.append(_png_chunk(b"iTXt", PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + metadata[XMP]))
    if metadata.get(DPI):
        per_metre = [int(round(float(v) / 0.0254)) for v in metadata[DPI]]
        added.append(_png_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1)))
    if not added:
        return png
    replaced = {b"iCCP", b"sRGB", b"eXIf", b"pHYs"}
    chunks = [chunk for kind, chunk in _png_chunks(png) if kind not in replaced and not (kind == b"iTXt" and chunk[8:].startswith(PNG_XMP_KEYWORD))]
    return PNG_SIGNATURE + chunks[0] + b"".join(added) + b"".join(chunks[1:])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _png_chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        end = position + 12 + length
        yield png[position + 4 : position + 8], png[position:end]
        position = end


def encode_with_pillow(suffix: str, pixels: np.ndarray, alpha: np.ndarray | None, metadata: dict[str, Any], quality: int) -> bytes:
    """A JPEG or WebP with its metadata, from 8-bit RGB (H×W×3) or grayscale (H×W) pixels."""
    from PIL import Image

    channels = pixels if alpha is None or suffix != ".webp" else np.dstack([np.atleast_3d(pixels), alpha])
    if channels.ndim == 3 and channels.shape[2] == 2:
        channels = np.dstack([np.repeat(channels[:, :, :1], 3, axis=2), channels[:, :, 1:]])
    image = Image.fromarray(np.ascontiguousarray(channels))
    options: dict[str, Any] = {}
    if metadata.get(EXIF):
        options["exif"] = exif_for_output(metadata[EXIF], image.width, image.height)
    if metadata.get(ICC_PROFILE):
        options["icc_profile"] = metadata[ICC_PROFILE]
    if metadata.get(XMP):
        options["xmp"] = metadata[XMP]
    if suffix == ".webp":
        options.update(lossless=quality > 100, quality=min(quality, 100))
    else:
        options.update(quality=quality, dpi=tuple(metadata[DPI]) if metadata.get(DPI) else None)
        options = {k: v for k, v in options.items() if v is not None}
    buffer = io.BytesIO()
    image.save(buffer, "WEBP" if suffix == ".webp" else "JPEG", **options)
    return buffer.getvalue()


# -- display ---------------------------------------------------------------------------------


def display_pixels(pixels: np.ndarray, icc_profile: bytes | None) -> np.ndarray:
    """8-bit sRGB for the screen from pixels in the colour space of ``icc_profile``.

    H×W×C float [0, 1] in, uint8 H×W×C out. Without a profile, or with one that does not
    describe RGB (or grayscale) pixels, the values are only scaled.
    """
    eight = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    transform = _to_srgb_transform(icc_profile, "L" if eight.shape[2] == 1 else "RGB") if icc_profile else None
    if transform is None:
        return eight
    from PIL import Image

    image = Image.fromarray(eight[:, :, 0] if eight.shape[2] == 1 else eight)
    converted = np.asarray(transform.apply(image), dtype=np.uint8)
    return converted.reshape(eight.shape[0], eight.shape[1], -1)[:, :, : eight.shape[2]]


@functools.lru_cache(maxsize=4)
def _to_srgb_transform(icc_profile: bytes, mode: str) -> Any:
    """The colour transform from the profile to sRGB, or None (sRGB itself, unreadable, or not
    RGB or gray)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        space = source.profile.xcolor_space.strip()
        if (mode, space) not in (("RGB", "RGB"), ("L", "GRAY")) or (source.profile.profile_description or "").startswith("sRGB"):
            return None
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        return ImageCms.buildTransform(source, srgb, mode, "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.warning("the image's colour profile cannot be used; it is shown without colour management")
        return None
