"""Deep Image Prior on a large image as overlapping tiles, each fitted by its own network.

Not in the paper (it fits the whole image with one network). On a CPU the fast network needs
far more steps at 512×512 than at 256×256 to come near its peak: one network of the same size
has four times the picture to fit. Cut into tiles of about ``tile`` pixels, each fitted by its
own network, code, optimiser and output average, all advanced one step at a time (so the curve,
the stopping rules, the time machine and a stop by eye see one image per step), a step costs
about what a whole-image step costs, and the blended average comes near the peak in fewer steps
(measured: ``docs/BENCHMARKS.md``, "Deep Image Prior: time to quality").

On two or more CPU threads the tiles of a step are fitted side by side (``dip_loop.DipRun``),
and ``split_for_threads`` (:func:`run_tiles`) cuts an image that would be one tile into tiles
of half the size, so that both cores have networks to step.

The tiles of an axis are spread evenly with at least ``overlap`` shared pixels between
neighbours and a length that is a multiple of the network's (no padding inside a tile); their
outputs are blended with weights that fall linearly across each overlap and sum to one at every
pixel.
"""

from __future__ import annotations

import math

import numpy as np

from denoise_studio.core.tiling import Tile

DEFAULT_OVERLAP = 8


def axis_tiles(size: int, tile: int, multiple: int = 1, overlap: int = DEFAULT_OVERLAP) -> tuple[list[int], int]:
    """Origins and common length of the tiles along an axis of ``size`` pixels.

    ``round(size / tile)`` tiles (one, the whole axis, when ``tile`` is 0 or that rounds to one),
    as short as cover the axis with ``overlap`` pixels shared by neighbours, lengthened to a
    multiple of ``multiple`` (the network's, so that a tile needs no padding), evenly spread.
    A 500-pixel axis with ``tile`` 256 and ``multiple`` 32: two tiles of 256 at 0 and 244.
    """
    count = max(1, round(size / tile)) if tile > 0 else 1
    if count == 1:
        return [0], size
    length = multiple * math.ceil((size + (count - 1) * overlap) / count / multiple)
    if length >= size:
        return [0], size
    starts = [round(i * (size - length) / (count - 1)) for i in range(count)]
    return starts, length


def tile_grid(height: int, width: int, tile: int, multiple: int = 1, overlap: int = DEFAULT_OVERLAP) -> list[Tile]:
    """The tiles covering an image, row by row."""
    rows, tile_h = axis_tiles(height, tile, multiple, overlap)
    cols, tile_w = axis_tiles(width, tile, multiple, overlap)
    return [Tile(top, left, tile_h, tile_w) for top in rows for left in cols]


def run_tiles(height: int, width: int, tile: int, multiple: int, split_for_threads: bool, threads: int) -> list[Tile]:
    """The tiles a run fits: :func:`tile_grid` of ``tile``; with ``split_for_threads`` and two or
    more CPU threads, an image that would be one tile is cut into tiles of half that size
    instead, so that each thread has networks of its own to step (on a 256×256 crop, four tiles
    of 160 come near the peak in about 40 % fewer steps than one network; measured in
    ``docs/BENCHMARKS.md``, "Deep Image Prior: time to quality")."""
    tiles = tile_grid(height, width, tile, multiple)
    if len(tiles) == 1 and split_for_threads and threads >= 2 and tile > 0:
        tiles = tile_grid(height, width, max(tile // 2, multiple), multiple)
    return tiles


def _ramp(starts: list[int], length: int, index: int) -> np.ndarray:
    """Weights along one axis of tile ``index``: 1 inside, falling linearly across each overlap."""
    weights = np.ones(length, np.float64)
    if index > 0:
        shared = starts[index - 1] + length - starts[index]
        weights[:shared] = (np.arange(shared) + 0.5) / shared
    if index < len(starts) - 1:
        shared = starts[index] + length - starts[index + 1]
        weights[length - shared:] = np.minimum(weights[length - shared:], (np.arange(shared, 0, -1) - 0.5) / shared)
    return weights


def blend_weights(tiles: list[Tile], height: int, width: int) -> list[np.ndarray]:
    """Per tile, its height × width blending weights; over all tiles they sum to one at every pixel."""
    rows = sorted({t.top for t in tiles})
    cols = sorted({t.left for t in tiles})
    raw = [np.outer(_ramp(rows, t.height, rows.index(t.top)), _ramp(cols, t.width, cols.index(t.left))) for t in tiles]
    total = np.zeros((height, width), np.float64)
    for t, w in zip(tiles, raw, strict=True):
        total[t.slices] += w
    return [(w / total[t.slices]).astype(np.float32) for t, w in zip(tiles, raw, strict=True)]
