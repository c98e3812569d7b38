"""Size requirements, padding, and tiled inference (overlap, feathering, agreement with whole)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from denoise_studio.core.tiling import (
    SizeRequirements,
    Tile,
    TilesTooSmallError,
    choose_tile_size,
    crop_padding,
    feather_ramp,
    feather_weights,
    halved_tile,
    iter_tiled,
    iter_tiled_adaptive,
    pad_to_requirements,
    plan_tiles,
)


def test_padded_size_and_round_trip(odd_rgb: np.ndarray) -> None:
    req = SizeRequirements(multiple_of=8, minimum=40)
    padded, pad = pad_to_requirements(odd_rgb, req)
    assert padded.shape[:2] == (40, 40)
    assert np.array_equal(crop_padding(padded, pad), odd_rgb)


def test_plan_covers_every_pixel_with_full_size_tiles() -> None:
    tiles = plan_tiles(100, 130, 48, 16)
    cover = np.zeros((100, 130), int)
    for t in tiles:
        assert (t.height, t.width) == (48, 48)
        cover[t.slices] += 1
    assert cover.min() >= 1
    # Neighbours overlap by at least the requested amount.
    lefts = sorted({t.left for t in tiles})
    assert all(b - a <= 48 - 16 for a, b in zip(lefts, lefts[1:]))


def test_one_tile_when_the_image_fits() -> None:
    assert plan_tiles(30, 40, 64, 16) == [Tile(0, 0, 30, 40)]
    assert plan_tiles(30, 40, 0, 16) == [Tile(0, 0, 30, 40)]
    with pytest.raises(ValueError):
        plan_tiles(100, 100, 32, 32)


def test_feather_ramp_shape() -> None:
    ramp = feather_ramp(16)
    assert ramp[:3].max() == 0.0  # the outer quarter is ignored
    assert ramp[-4:].min() == 1.0
    assert np.all(np.diff(ramp) >= 0)
    # Two tiles overlapping by 16 always have positive total weight.
    assert np.all(ramp + ramp[::-1] > 0)


def test_feather_weights_are_one_at_image_borders() -> None:
    w = feather_weights(Tile(0, 0, 48, 48), 100, 100, 16)
    assert w[0, 0] == 1.0 and w[:32, 0].min() == 1.0  # top-left tile: top and left are image borders
    assert w[-1, 0] == 0.0  # bottom side is inside the image
    assert w[0, -1] == 0.0  # right side is inside the image


def _toy_net() -> nn.Module:
    torch.manual_seed(0)
    # Receptive-field radius 3 (three 3×3 convolutions) < overlap / 4.
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()


def _apply(net: nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).unsqueeze(0)
        return net(x)[0].numpy().transpose(1, 2, 0)


def test_tiled_equals_whole_in_the_interior(rng: np.random.Generator) -> None:
    net = _toy_net()
    image = rng.random((90, 117, 3)).astype(np.float32)
    whole = _apply(net, image)
    reports = list(iter_tiled(lambda t: {"image": _apply(net, t)}, image, tile_size=40, overlap=16))
    assert [r.index for r in reports] == list(range(1, len(reports) + 1)) and len(reports) > 4
    tiled = reports[-1].blender.result("image")
    # Away from the image border (where the padding differs) the results agree exactly.
    np.testing.assert_allclose(tiled[4:-4, 4:-4], whole[4:-4, 4:-4], atol=1e-5)


def test_tiles_are_padded_to_requirements(rng: np.random.Generator) -> None:
    seen: list[tuple[int, int]] = []

    def fn(tile: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(tile.shape[:2])
        return {"image": tile * 2, "spread": tile[:, :, :1]}

    image = rng.random((37, 31, 3)).astype(np.float32)
    reports = list(iter_tiled(fn, image, tile_size=0, overlap=8, req=SizeRequirements(multiple_of=16)))
    assert seen == [(48, 32)]
    out = reports[-1].blender
    np.testing.assert_allclose(out.result("image"), image * 2, rtol=1e-6)
    assert out.result("spread").shape == (37, 31, 1)


def test_partial_result_falls_back_to_the_input(rng: np.random.Generator) -> None:
    image = rng.random((64, 64, 1)).astype(np.float32)
    gen = iter_tiled(lambda t: {"image": np.zeros_like(t)}, image, tile_size=32, overlap=8)
    first = next(gen)
    partial = first.blender.result("image", fallback=image)
    assert partial[0, 0, 0] == 0.0  # done
    assert partial[-1, -1, 0] == image[-1, -1, 0]  # not reached yet


def test_choose_tile_size() -> None:
    req = SizeRequirements(multiple_of=32)
    # 1 GiB free, a quarter of it, 4 KiB per pixel → sqrt(65536) = 256.
    assert choose_tile_size(4096, 1024**3, req) == 256
    assert choose_tile_size(4096, 10, req) == 64  # the minimum
    assert choose_tile_size(1, 1024**4, req) == 2048  # the cap bounds peak memory
    assert choose_tile_size(4096, 1024**3, SizeRequirements(multiple_of=100)) == 200


def _fails_above(side: int, error: Exception):  # type: ignore[no-untyped-def]
    """A fake network pass: the identity, or ``error`` for tiles wider than ``side``."""
    def fn(tile: np.ndarray) -> dict[str, np.ndarray]:
        if max(tile.shape[:2]) > side:
            raise error
        return {"image": tile * 1.0}
    return fn


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")])
def test_adaptive_tiles_halve_after_out_of_memory_and_go_on(error: Exception) -> None:
    image = np.random.default_rng(0).random((300, 260, 3)).astype(np.float32)
    shrinks: list[tuple[int, int]] = []
    reports = list(iter_tiled_adaptive(_fails_above(100, error), image, 400, 16, on_shrink=lambda a, b: shrinks.append((a, b))))
    assert shrinks == [(400, 150), (150, 75)]  # 400 is more than the image: its longer side halves first
    assert reports[-1].tile_size == 75 and reports[-1].index == reports[-1].total
    np.testing.assert_allclose(reports[-1].blender.result("image"), image, atol=1e-6)


def test_adaptive_tiles_stop_at_the_minimum_with_a_clear_error() -> None:
    image = np.zeros((300, 300, 1), np.float32)
    with pytest.raises(TilesTooSmallError, match="even with tiles of 75 px") as caught:
        list(iter_tiled_adaptive(_fails_above(50, MemoryError()), image, 300, 8, minimum=64))
    assert caught.value.tile_size == 75
    with pytest.raises(ValueError, match="not memory"):  # other errors pass through untouched
        list(iter_tiled_adaptive(_fails_above(50, ValueError("not memory")), image, 300, 8))
    assert halved_tile(0, 300, 200) == 150 and halved_tile(100, 300, 200) is None


@pytest.mark.parametrize(("size", "origin"), [(481, 0), (481, 1), (480, 1), (480, 0), (7, 1), (9, 0)])
def test_padding_with_an_origin_keeps_the_two_by_two_phase_of_the_larger_image(size: int, origin: int) -> None:
    """A tile at ``origin`` is padded so that the network's input starts on an even row and
    column of the whole image: a Bayer mosaic's phase is the one the network was trained with."""
    req = SizeRequirements(multiple_of=4)
    image = np.zeros((size, 5, 1), np.float32)
    padded, pad = pad_to_requirements(image, req, origin=(origin, 0))
    assert (origin - pad.top) % 2 == 0 and padded.shape[0] % 4 == 0
    assert padded.shape[0] - size < 4 + 4  # at most one multiple more than without the origin
    assert crop_padding(padded, pad).shape == image.shape
    plain, plain_pad = pad_to_requirements(image, req)
    assert plain_pad.top + plain_pad.bottom == req.padded_size(size) - size  # without an origin: as before


@pytest.mark.parametrize("origin", [(0, 0), (1, 0), (0, 1), (3, 5)])
def test_every_tile_a_network_sees_starts_on_the_phase_of_the_whole_image(origin: tuple[int, int]) -> None:
    """A region cut at ``origin`` and tiled: each padded tile's first pixel is an even row and
    column of the whole image. Reflection keeps a 2×2 pattern's parity, so a pixel's code
    (row parity + 2 × column parity, in whole-image coordinates) reads the phase directly."""
    whole_rows, whole_cols = np.mgrid[0:140, 0:130]
    code = ((whole_rows % 2) + 2 * (whole_cols % 2)).astype(np.float32)[:, :, None]
    region = code[origin[0] : origin[0] + 101, origin[1] : origin[1] + 87]
    firsts: list[float] = []

    def network(tile: np.ndarray) -> dict[str, np.ndarray]:
        firsts.append(float(tile[0, 0, 0]))
        return {"image": tile}

    reports = list(iter_tiled(network, region, 48, 8, SizeRequirements(multiple_of=8), origin=origin))
    assert reports[-1].total > 4 and firsts == [0.0] * reports[-1].total
    np.testing.assert_array_equal(reports[-1].blender.result("image"), region)


def test_a_pad_longer_than_the_side_keeps_the_phase_too() -> None:
    """A tiny region (3×3 at an odd origin, padded to 8): numpy reflects again past the side,
    which keeps every row's and column's parity."""
    rows, cols = np.mgrid[1:4, 3:6]
    code = ((rows % 2) + 2 * (cols % 2)).astype(np.float32)[:, :, None]
    padded, pad = pad_to_requirements(code, SizeRequirements(multiple_of=8), origin=(1, 3))
    assert padded.shape[:2] == (8, 8) and (1 - pad.top) % 2 == 0 and (3 - pad.left) % 2 == 0
    whole_rows, whole_cols = np.mgrid[1 - pad.top : 9 - pad.top, 3 - pad.left : 11 - pad.left]
    np.testing.assert_array_equal(padded[:, :, 0], (whole_rows % 2) + 2 * (whole_cols % 2))
