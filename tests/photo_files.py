"""Photo files that the metadata tests make themselves, carrying EXIF (make, model, date, an Exif
sub-IFD, orientation 6), a non-sRGB ICC profile, XMP and 300 DPI; and readers of those tags.

They are written and read with Pillow, tifffile or a few lines of PNG by hand, never with the
code under test, so a round trip through the studio is checked against independent tools.
(``tests/`` is on ``sys.path`` because ``tests/conftest.py`` is: ``import photo_files``.)
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

MAKE, MODEL, DATETIME, TAKEN = "TestCam", "Model 7", "2024:05:06 07:08:09", "2024:05:06 07:00:00"
XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
       b'dc:format="image/test"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
DPI = 300.0
ORIENTATION_6 = 6
#: kind → (suffix, bit depth)
KINDS: dict[str, tuple[str, int]] = {
    "jpeg": (".jpg", 8), "png8": (".png", 8), "png16": (".png", 16), "tiff8": (".tif", 8),
    "tiff16": (".tif", 16), "tiff_float": (".tif", 32), "webp": (".webp", 8),
}
#: Kinds whose EXIF the test writes with an Exif sub-IFD (tifffile writes only first-IFD tags).
WITH_EXIF_SUB_IFD = ("jpeg", "png8", "png16", "tiff8", "webp")


@functools.lru_cache(maxsize=1)
def lab_profile() -> bytes:
    """A valid ICC profile that is not sRGB (lcms's built-in Lab identity); made once, since its
    header holds the time it was made."""
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes())


def stored_pixels() -> np.ndarray:
    """A smooth 24×36 RGB picture (float in [0, 1]), as it lies in the file before turning."""
    y, x = np.mgrid[0:24, 0:36].astype(np.float32)
    return np.stack([x / 35, y / 23, 0.25 + 0.5 * (x + y) / 58], axis=-1).astype(np.float32)


def upright(stored: np.ndarray) -> np.ndarray:
    """What orientation 6 shows: the stored picture turned 90° clockwise."""
    return np.ascontiguousarray(np.rot90(stored, -1))


def exif_block() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132], exif[0x0112] = MAKE, MODEL, DATETIME, ORIENTATION_6
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    return bytes(exif.tobytes())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_photo(folder: Path, kind: str, name: str = "photo") -> Path:
    """A file of ``kind`` (see KINDS) holding :func:`stored_pixels` and all the metadata."""
    suffix, depth = KINDS[kind]
    path = folder / f"{name}_{kind}{suffix}"
    pixels = stored_pixels()
    if kind in ("tiff16", "tiff_float"):
        _write_tifffile(path, pixels.astype(np.float32) if depth == 32 else np.rint(pixels * 65535).astype(np.uint16))
    elif kind == "png16":
        path.write_bytes(_png16(np.rint(pixels * 65535).astype(np.uint16)))
    else:
        _write_pillow(path, np.rint(pixels * 255).astype(np.uint8), kind)
    return path


def _write_pillow(path: Path, eight: np.ndarray, kind: str) -> None:
    from PIL import Image, PngImagePlugin

    image = Image.fromarray(eight, "RGB")
    options: dict[str, Any] = {"exif": exif_block(), "icc_profile": lab_profile()}
    if kind == "jpeg":
        options.update(quality=97, dpi=(DPI, DPI), xmp=XMP)
    elif kind == "webp":
        options.update(lossless=True, xmp=XMP)
    elif kind == "png8":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options.update(dpi=(DPI, DPI), pnginfo=info)
    else:  # tiff8
        exif = Image.Exif()
        exif.load(exif_block())
        exif[700] = XMP  # Pillow takes the XMP of a TIFF among the tags of its EXIF
        options.update(dpi=(DPI, DPI), exif=exif)
    image.save(path, **options)


def _write_tifffile(path: Path, samples: np.ndarray) -> None:
    import tifffile

    tags = [(271, "s", 0, MAKE, True), (272, "s", 0, MODEL, True), (306, "s", 0, DATETIME, True),
            (274, "H", 1, ORIENTATION_6, True), (700, "B", len(XMP), XMP, True)]
    tifffile.imwrite(path, samples, photometric="rgb", iccprofile=lab_profile(), resolution=(DPI, DPI), resolutionunit="INCH",
                     extratags=tags, metadata=None, software=False)


def _png16(samples: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(samples[:, :, ::-1]))
    assert ok
    png = encoded.tobytes()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    per_metre = round(DPI / 0.0254)
    extra = (chunk(b"iCCP", b"lab\x00\x00" + zlib.compress(lab_profile())) + chunk(b"eXIf", exif_block()[6:])
             + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP) + chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
    header_end = 8 + 8 + 13 + 4  # signature, then the IHDR chunk
    return png[:header_end] + extra + png[header_end:]


def read_tags(path: Path) -> dict[str, Any]:
    """Make, model, date, date taken, orientation, ICC, XMP, DPI and sample type of a written file,
    read with tifffile (TIFF) or Pillow (the others)."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = {tag.code: tag.value for tag in page.tags}
            exif = tags.get(34665) or {}
            x, unit = tags.get(282), tags.get(296)
            dpi = round(x[0] / x[1], 3) if x and int(unit or 2) == 2 else None
            xmp = tags.get(700)
            return {"make": tags.get(271), "model": tags.get(272), "datetime": tags.get(306), "taken": exif.get("DateTimeOriginal"),
                    "orientation": int(tags.get(274, 1)), "icc": tags.get(34675), "xmp": bytes(xmp) if xmp is not None else None,
                    "dpi": dpi, "dtype": page.dtype}
    from PIL import Image

    with Image.open(path) as image:
        exif = image.getexif()
        info = image.info
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        dpi = info.get("dpi")
        return {"make": exif.get(0x010F), "model": exif.get(0x0110), "datetime": exif.get(0x0132), "taken": exif.get_ifd(0x8769).get(0x9003),
                "orientation": int(exif.get(0x0112, 1)), "icc": info.get("icc_profile"),
                "xmp": xmp.encode() if isinstance(xmp, str) else xmp, "dpi": round(float(dpi[0])) if dpi else None, "dtype": None}


def linear_rgb_profile() -> bytes:
    """A minimal ICC v2 display profile: sRGB primaries (D50-adapted) with a linear tone curve,
    so that mid-grey 0.5 shows as sRGB's 0.735 (188 of 255)."""
    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    description = b"linear RGB for tests\x00"
    tags = {
        b"desc": b"desc\x00\x00\x00\x00" + struct.pack(">I", len(description)) + description + b"\x00" * 79,
        b"wtpt": xyz((0.9642, 1.0, 0.8249)),
        b"rXYZ": xyz((0.4361, 0.2225, 0.0139)), b"gXYZ": xyz((0.3851, 0.7169, 0.0971)), b"bXYZ": xyz((0.1431, 0.0606, 0.7141)),
        b"rTRC": b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0100) + b"\x00\x00",
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    table, data = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, payload in tags.items():
        table += signature + struct.pack(">II", offset + len(data), len(payload))
        data += payload + b"\x00" * (-len(payload) % 4)
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"none" + b"\x02\x10\x00\x00" + b"mntr" + b"RGB " + b"XYZ " + b"\x00" * 12 + b"acsp"
              + b"\x00" * 28 + struct.pack(">iii", 63190, 65536, 54061) + b"\x00" * 48)
    return header + struct.pack(">I", len(tags)) + table + data


def save_to_bytes(image: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
