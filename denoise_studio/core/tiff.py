"""TIFF read and written with tifffile: 8-bit, 16-bit and 32-bit float, with the photo's metadata.

Reading takes the first image of the file when it holds plain grayscale or RGB samples (with an
alpha channel or not) in a compression tifffile decodes by itself; anything else (LZW without
imagecodecs, palette, YCbCr, CMYK, bilevel) is left to OpenCV: :func:`read_tiff` returns None.

Writing puts the ICC profile, XMP, DPI and the descriptive tags of the first IFD (make, model,
date, ...) into the TIFF's own tags. tifffile does not write EXIF sub-IFDs, so the Exif and GPS
IFDs are serialised with Pillow and appended to the file; tifffile writes their pointers in the
first IFD under the next tag number (no tag lies between), which is then renamed.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np

from denoise_studio.core.errors import ImageError
from denoise_studio.core.metadata import (
    DPI,
    EXIF,
    EXIF_IFD,
    GPS_IFD,
    ICC_PROFILE,
    ORIENTATION_TAG,
    TIFF_TEXT_TAGS,
    XMP,
    XMP_TAG,
    exif_for_output,
)

_SAMPLE_TYPES = (np.uint8, np.uint16, np.float32, np.float64)
_PLACEHOLDER = 0xFFFFFFFF
#: tifffile refuses to write the Exif and GPS pointers: it writes these instead, renamed after.
_STAND_IN = {EXIF_IFD: EXIF_IFD + 1, GPS_IFD: GPS_IFD + 1}


def read_tiff(data: bytes, display: str) -> np.ndarray | None:
    """H×W×C samples in RGB(A) order (H×W for one channel), or None to let OpenCV decode it.

    Raises :class:`ImageError` for a file cut before the end of its pixel data.
    """
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page: Any = tif.pages[0]
            if not _plain_samples(page):
                return None
            ends = [offset + count for offset, count in zip(page.dataoffsets, page.databytecounts)]
            if not ends or max(ends) > len(data):
                raise ImageError(f"{display}: the TIFF file is truncated (its pixel data ends past the end of the file)")
            samples = page.asarray()
            separate = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
    except ImageError:
        raise
    except Exception:  # noqa: BLE001 - whatever tifffile cannot decode goes to OpenCV, which reports it
        return None
    if samples.ndim == 3 and separate:
        samples = np.moveaxis(samples, 0, -1)
    return np.ascontiguousarray(samples)


def _plain_samples(page: Any) -> bool:
    from tifffile import PHOTOMETRIC

    channels = int(page.samplesperpixel)
    known = page.photometric in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.RGB)
    layout_fits = (page.photometric == PHOTOMETRIC.RGB and channels in (3, 4)) or (page.photometric == PHOTOMETRIC.MINISBLACK and channels in (1, 2))
    return bool(known and layout_fits and page.dtype in _SAMPLE_TYPES and page.imagedepth == 1)


def encode_tiff(samples: np.ndarray, alpha: np.ndarray | None, metadata: dict[str, Any]) -> bytes:
    """A TIFF of ``samples`` (H×W×C, uint8, uint16 or float32, RGB order) with ``alpha`` (H×W,
    same type) as an unassociated alpha channel, and ``metadata`` in its tags."""
    import tifffile

    height, width = samples.shape[:2]
    colour = samples if samples.ndim == 3 else samples[:, :, None]
    photometric = "rgb" if colour.shape[2] == 3 else "minisblack"
    if alpha is not None:
        colour = np.dstack([colour, alpha.astype(colour.dtype)])
    if colour.shape[2] == 1:
        colour = colour[:, :, 0]
    text_tags, has_orientation, sub_ifds = _exif_parts(metadata, width, height)
    software, description = text_tags.pop(305, None), text_tags.pop(270, None)
    extratags: list[tuple[int, Any, int, Any, bool]] = [(tag, "s", 0, value, True) for tag, value in text_tags.items()]
    extratags += [(_STAND_IN[pointer], "I", 1, _PLACEHOLDER, True) for pointer in sub_ifds]
    if has_orientation:
        extratags.append((ORIENTATION_TAG, "H", 1, 1, True))  # the pixels were turned upright on load
    if metadata.get(XMP):
        extratags.append((XMP_TAG, "B", len(metadata[XMP]), metadata[XMP], True))
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, colour, photometric=photometric, planarconfig="contig", extrasamples=("unassalpha",) if alpha is not None else None,
        compression="zlib", predictor=colour.dtype != np.float32, metadata=None, software=software or False,
        description=description, iccprofile=metadata.get(ICC_PROFILE) or None, extratags=extratags,
        resolution=tuple(metadata[DPI]) if metadata.get(DPI) else None, resolutionunit="INCH" if metadata.get(DPI) else None,
        bigtiff=False,
    )
    return _append_sub_ifds(buffer.getvalue(), sub_ifds)


def _exif_parts(metadata: dict[str, Any], width: int, height: int) -> tuple[dict[int, str], bool, dict[int, dict[int, Any]]]:
    """From the EXIF block: the text tags of IFD0, whether it has an orientation, and the Exif
    and GPS sub-IFDs as dictionaries."""
    if not metadata.get(EXIF):
        return {}, False, {}
    from PIL import Image

    block = Image.Exif()
    block.load(exif_for_output(metadata[EXIF], width, height))
    text = {tag: value.replace("\x00", "") for tag, value in block.items() if tag in TIFF_TEXT_TAGS and isinstance(value, str) and value.strip("\x00")}
    sub_ifds = {pointer: dict(block.get_ifd(pointer)) for pointer in (EXIF_IFD, GPS_IFD) if pointer in block and block.get_ifd(pointer)}
    return text, ORIENTATION_TAG in block, sub_ifds


def _append_sub_ifds(tiff: bytes, sub_ifds: dict[int, dict[int, Any]]) -> bytes:
    """Append each sub-IFD to a little-endian TIFF and point its tag in IFD0 at it."""
    if not sub_ifds:
        return tiff
    from PIL import TiffImagePlugin

    out = bytearray(tiff)
    entries_of_ifd0 = _ifd0_entries(tiff)
    header = b"II*\x00" + struct.pack("<I", 8)
    for pointer, entries in sub_ifds.items():
        if len(out) % 2:
            out += b"\x00"
        directory = TiffImagePlugin.ImageFileDirectory_v2(ifh=header, group=pointer)
        for tag, value in entries.items():
            directory[tag] = value
        start = len(out)
        out += directory.tobytes(start)
        entry = entries_of_ifd0[_STAND_IN[pointer]]
        out[entry : entry + 2] = struct.pack("<H", pointer)
        out[entry + 8 : entry + 12] = struct.pack("<I", start)
    return bytes(out)


def _ifd0_entries(tiff: bytes) -> dict[int, int]:
    """Where each entry (tag number → offset of its 12 bytes) of a little-endian TIFF's first IFD lies."""
    (first,) = struct.unpack("<I", tiff[4:8])
    (count,) = struct.unpack("<H", tiff[first : first + 2])
    fields = {}
    for index in range(count):
        entry = first + 2 + 12 * index
        (tag,) = struct.unpack("<H", tiff[entry : entry + 2])
        fields[tag] = entry
    return fields
