"""Size requirements of networks, satisfied by padding and cropping back.

A network declares what input sizes it accepts (:class:`SizeRequirements`); the code that calls
it pads the image by reflection with :func:`pad_to_requirements` and crops the result back with
:func:`crop_padding`. Methods never check ``% 8`` themselves.

Large images are denoised tile by tile (:func:`iter_tiled`): overlapping tiles, each padded to
the network's requirements, blended with feathered weights so that no seam shows, with a report
after every tile so that the caller can show progress and cancel between tiles. Tiles adapt to
memory (:func:`iter_tiled_adaptive`): after an out-of-memory error the side halves and the run
goes on, down to a minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SizeRequirements:
    """Input sizes a network accepts: each side a multiple of ``multiple_of``, at least ``minimum``."""

    multiple_of: int = 1
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.multiple_of < 1 or self.minimum < 1:
            raise ValueError("multiple_of and minimum must be positive")

    def padded_size(self, size: int) -> int:
        """The smallest accepted side length that is at least ``size``."""
        size = max(size, self.minimum)
        return -(-size // self.multiple_of) * self.multiple_of


@dataclass(frozen=True)
class Padding:
    """How much was added on each side, so that :func:`crop_padding` can take it off."""

    top: int
    bottom: int
    left: int
    right: int


def _split_pad(total: int, multiple: int, before_parity: int | None) -> tuple[int, int]:
    """Padding before and after along one axis: half each, or with ``before_parity`` (0 or 1) a
    padding before of that parity, the total grown by ``multiple`` where it has to be."""
    if before_parity is None:
        return total // 2, total - total // 2
    if total == 0 and before_parity == 1:
        total = multiple
    before = total // 2
    if before % 2 != before_parity:
        before = before + 1 if before + 1 <= total else before - 1
    return before, total - before


def pad_to_requirements(image: np.ndarray, req: SizeRequirements, mode: str = "reflect",
                        origin: tuple[int, int] | None = None) -> tuple[np.ndarray, Padding]:
    """Pad an H×W[×C] image so both sides meet ``req``; padding is split between both sides.

    ``origin``: where the image starts in a larger one (a tile's top and left). Then the padded
    image starts on an even row and column of that larger image, so that a 2×2 pattern of its
    noise (the Bayer mosaic of camera noise) keeps the phase a network was trained with: a
    network trained on camera noise whose mosaic starts at the patch's corner lost 1.3 dB on a
    481×321 CBSD68 image padded by one row and column on top and left, where it gains 2 dB with
    the phase kept (docs/BENCHMARKS.md, "InvDN").

    Reflection (numpy reflects again for a pad longer than the side) keeps every row's and
    column's parity, so the 2×2 phase holds in the padding too.
    """
    h, w = image.shape[:2]
    top, bottom = _split_pad(req.padded_size(h) - h, req.multiple_of, None if origin is None else origin[0] % 2)
    left, right = _split_pad(req.padded_size(w) - w, req.multiple_of, None if origin is None else origin[1] % 2)
    pad = Padding(top, bottom, left, right)
    ph, pw = top + bottom, left + right
    if ph == 0 and pw == 0:
        return image, pad
    widths = [(pad.top, pad.bottom), (pad.left, pad.right)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths, mode=mode), pad  # type: ignore[call-overload]


def crop_padding(image: np.ndarray, pad: Padding) -> np.ndarray:
    """Undo :func:`pad_to_requirements` on an H×W[×C] array (or the last two axes of a tensor-like)."""
    h, w = image.shape[:2]
    return image[pad.top : h - pad.bottom, pad.left : w - pad.right]


# --------------------------------------------------------------------------------------------
# Tiled inference: overlapping tiles, feathered blending, progress per tile.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One tile of an image: rows ``top:top+height`` and columns ``left:left+width``."""

    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)  # the last tile is flush with the border: every tile is full size
    return starts


def plan_tiles(height: int, width: int, tile_size: int, overlap: int) -> list[Tile]:
    """Overlapping tiles of side ``tile_size`` covering an image, row by row.

    Neighbouring tiles overlap by at least ``overlap`` pixels; the last tile of a row or column
    is moved back to end at the border, so every tile has the full size unless the image is
    smaller than a tile. ``tile_size <= 0`` means one tile for the whole image.
    """
    if tile_size <= 0 or (height <= tile_size and width <= tile_size):
        return [Tile(0, 0, height, width)]
    if overlap < 0 or overlap >= tile_size:
        raise ValueError(f"overlap must be in [0, tile_size), got {overlap} for tiles of {tile_size}")
    th, tw = min(tile_size, height), min(tile_size, width)
    return [Tile(t, s, th, tw) for t in _starts(height, tile_size, overlap) for s in _starts(width, tile_size, overlap)]


def feather_ramp(overlap: int) -> np.ndarray:
    """Blending weights for the ``overlap`` pixels next to a tile edge, edge first.

    The weight is zero for the outer quarter of the overlap (where a network's zero padding at the
    tile edge spoils its output), rises linearly over the middle half, and is one for the inner
    quarter. Two tiles overlapping by ``overlap`` therefore always have a positive total weight,
    and a network whose receptive-field radius is below ``overlap / 4`` gives exactly the result
    of whole-image inference.
    """
    d = np.arange(overlap, dtype=np.float32)
    return np.clip((d + 0.5 - overlap / 4.0) / max(overlap / 2.0, 1e-6), 0.0, 1.0).astype(np.float32)


def feather_weights(tile: Tile, height: int, width: int, overlap: int) -> np.ndarray:
    """The H×W weight of one tile: ramps on the sides that lie inside the image, one elsewhere."""
    wy = np.ones(tile.height, dtype=np.float32)
    wx = np.ones(tile.width, dtype=np.float32)
    if overlap > 0:
        ramp_y = feather_ramp(min(overlap, tile.height))
        ramp_x = feather_ramp(min(overlap, tile.width))
        if tile.top > 0:
            wy[: ramp_y.size] = np.minimum(wy[: ramp_y.size], ramp_y)
        if tile.top + tile.height < height:
            wy[tile.height - ramp_y.size :] = np.minimum(wy[tile.height - ramp_y.size :], ramp_y[::-1])
        if tile.left > 0:
            wx[: ramp_x.size] = np.minimum(wx[: ramp_x.size], ramp_x)
        if tile.left + tile.width < width:
            wx[tile.width - ramp_x.size :] = np.minimum(wx[tile.width - ramp_x.size :], ramp_x[::-1])
    return wy[:, None] * wx[None, :]


class TileBlender:
    """Accumulates weighted tile outputs (several named H×W×C outputs) into whole images."""

    def __init__(self, height: int, width: int, overlap: int) -> None:
        self.height, self.width, self.overlap = height, width, overlap
        self._sums: dict[str, np.ndarray] = {}
        self._weight = np.zeros((height, width), dtype=np.float32)

    def add(self, tile: Tile, outputs: dict[str, np.ndarray]) -> None:
        """Blend in the outputs computed for ``tile`` (each ``tile.height × tile.width × C``)."""
        w = feather_weights(tile, self.height, self.width, self.overlap)
        rows, cols = tile.slices
        for name, out in outputs.items():
            if out.shape[:2] != (tile.height, tile.width):
                raise ValueError(f"output {name!r} has shape {out.shape[:2]}, tile is {tile.height}×{tile.width}")
            out3 = out if out.ndim == 3 else out[:, :, None]
            acc = self._sums.get(name)
            if acc is None:
                acc = self._sums[name] = np.zeros((self.height, self.width, out3.shape[2]), dtype=np.float32)
            acc[rows, cols] += out3 * w[:, :, None]
        self._weight[rows, cols] += w

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sums)

    def result(self, name: str, fallback: np.ndarray | None = None) -> np.ndarray:
        """The blended output; pixels no tile has reached yet come from ``fallback`` (or are 0)."""
        acc = self._sums[name]
        covered = self._weight > 0
        out = np.zeros_like(acc) if fallback is None else np.array(fallback, dtype=np.float32, copy=True)
        if out.ndim == 2:
            out = out[:, :, None]
        out[covered] = acc[covered] / self._weight[covered][:, None]
        return out


@dataclass
class TileProgress:
    """A report of :func:`iter_tiled`: tile ``index`` (1-based) of ``total`` is done."""

    index: int
    total: int
    tile: Tile
    blender: TileBlender
    tile_size: int = 0  # the side the tiles were planned with (0: one tile, the whole image)


def iter_tiled(
    fn: Callable[[np.ndarray], dict[str, np.ndarray]],
    image: np.ndarray,
    tile_size: int,
    overlap: int,
    req: SizeRequirements = SizeRequirements(),
    origin: tuple[int, int] = (0, 0),
) -> Iterator[TileProgress]:
    """Run ``fn`` tile by tile over an H×W×C image and blend its outputs; yield after each tile.

    ``fn`` receives a tile padded (by reflection) to satisfy ``req`` and returns named outputs of
    the padded size, which are cropped back before blending. The caller can stop between tiles
    by not asking for the next one; after the last report ``blender.result(name)`` is complete.
    ``tile_size`` is rounded down to a multiple of ``req.multiple_of`` (and at least its minimum).
    ``origin``: where ``image`` starts in the image it was cut from (top, left), so that every
    padded tile starts on an even row and column of that image (:func:`pad_to_requirements`).
    """
    height, width = image.shape[:2]
    if tile_size > 0:
        tile_size = max(req.padded_size(1), tile_size // req.multiple_of * req.multiple_of)
        overlap = min(overlap, tile_size // 2)
    tiles = plan_tiles(height, width, tile_size, overlap)
    blender = TileBlender(height, width, overlap if len(tiles) > 1 else 0)
    for index, tile in enumerate(tiles, start=1):
        padded, pad = pad_to_requirements(image[tile.slices], req, origin=(origin[0] + tile.top, origin[1] + tile.left))
        outputs = fn(np.ascontiguousarray(padded))
        blender.add(tile, {name: crop_padding(out, pad) for name, out in outputs.items()})
        yield TileProgress(index, len(tiles), tile, blender, tile_size)


#: The smallest tile side :func:`iter_tiled_adaptive` retreats to after out-of-memory errors.
MIN_ADAPTIVE_TILE = 64


class TilesTooSmallError(MemoryError):
    """Out of memory even with the smallest tiles (``tile_size``, the last side tried)."""

    def __init__(self, tile_size: int) -> None:
        super().__init__(f"out of memory even with tiles of {tile_size} px")
        self.tile_size = tile_size


def halved_tile(tile_size: int, height: int, width: int, minimum: int = MIN_ADAPTIVE_TILE) -> int | None:
    """The side to retry with after an out-of-memory error with ``tile_size`` (0: whole image);
    ``None`` when half of it would be below ``minimum``."""
    side = min(tile_size, max(height, width)) if tile_size > 0 else max(height, width)
    return side // 2 if side // 2 >= minimum else None


def iter_tiled_adaptive(
    fn: Callable[[np.ndarray], dict[str, np.ndarray]],
    image: np.ndarray,
    tile_size: int,
    overlap: int,
    req: SizeRequirements = SizeRequirements(),
    *,
    minimum: int = MIN_ADAPTIVE_TILE,
    is_out_of_memory: Callable[[BaseException], bool] | None = None,
    on_shrink: Callable[[int, int], None] | None = None,
    origin: tuple[int, int] = (0, 0),
) -> Iterator[TileProgress]:
    """:func:`iter_tiled`, with tiles that halve after an out-of-memory error in ``fn``.

    The run then starts again with the smaller tiles (all tiles of a plan have one size, so the
    error nearly always comes with the first tile and little is lost). ``on_shrink(old, new)``
    is called before the retry (to free cached memory, to say so); reports carry the side in
    use as ``tile_size``. Below ``minimum`` a :class:`TilesTooSmallError` is raised.
    ``is_out_of_memory`` defaults to :func:`denoise_studio.core.device.is_out_of_memory`.
    """
    from denoise_studio.core.device import is_out_of_memory as torch_out_of_memory

    out_of_memory = is_out_of_memory or torch_out_of_memory
    height, width = image.shape[:2]
    while True:
        try:
            yield from iter_tiled(fn, image, tile_size, overlap, req, origin)
            return
        except Exception as exc:
            if not out_of_memory(exc):
                raise
            smaller = halved_tile(tile_size, height, width, minimum)
            if smaller is None:
                raise TilesTooSmallError(tile_size if tile_size > 0 else max(height, width)) from exc
            if on_shrink is not None:
                on_shrink(tile_size, smaller)
            tile_size = smaller


def choose_tile_size(
    bytes_per_pixel: float,
    available_bytes: int,
    req: SizeRequirements = SizeRequirements(),
    fraction: float = 0.25,
    minimum: int = 64,
    maximum: int = 2048,
) -> int:
    """The side of the largest square tile whose working memory fits in a share of what is free.

    ``bytes_per_pixel`` is the network's peak inference memory per input pixel; ``fraction`` of
    ``available_bytes`` is the budget. The side is clamped to ``[minimum, maximum]`` (the cap
    bounds the peak memory on a large photograph even where much is free) and rounded down to
    a multiple of ``req.multiple_of``.
    """
    if bytes_per_pixel <= 0:
        raise ValueError("bytes_per_pixel must be positive")
    side = int(math.sqrt(max(available_bytes, 0) * fraction / bytes_per_pixel))
    side = min(max(side, minimum), maximum)
    return max(req.padded_size(1), side // req.multiple_of * req.multiple_of)
