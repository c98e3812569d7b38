"""Deep Image Prior fitted as tiles in lockstep: the layout, the blend, and a run that sees one image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.history import IterateHistory
from denoise_studio.core.image import to_numpy
from denoise_studio.core.method import RunContext
from denoise_studio.core.metrics import psnr
from denoise_studio.methods._common.dip_loop import DipRun
from denoise_studio.methods._common.dip_tiles import axis_tiles, blend_weights, run_tiles, tile_grid
from denoise_studio.methods._common.skip_net import SkipConfig
from denoise_studio.methods.dip import DIP, DIPParams

TINY = SkipConfig(in_channels=8, channels_down=(8, 8, 8), channels_up=(8, 8, 8), channels_skip=(2, 2, 2))  # multiple of 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("size", "expected"), [
    (500, ([0, 244], 256)),  # the McMaster crop of the benchmark: two tiles of 256 sharing 12 pixels
    (256, ([0], 256)), (380, ([0], 380)),  # under about 1.5 tiles: the whole axis
    (1000, ([0, 248, 496, 744], 256)),
    (512, ([0, 224], 288)),  # two tiles of 256 could not overlap: lengthened to the next multiple of 32
    (64, ([0], 64)),  # two tiles of 32 could not overlap, and 64 is the whole axis
])
def test_tiles_cover_the_axis_with_overlapping_multiples_of_the_network(size: int, expected: tuple[list[int], int]) -> None:
    tile = 32 if size == 64 else 256
    starts, length = axis_tiles(size, tile, 32)
    assert (starts, length) == expected
    assert starts[0] == 0 and starts[-1] + length == size
    assert all(a + length - b >= 8 for a, b in zip(starts, starts[1:], strict=False))
    assert len(set(starts)) == len(starts) and axis_tiles(size, 0, 32) == ([0], size)


def test_the_blend_weights_sum_to_one_and_are_one_inside_a_tile() -> None:
    tiles = tile_grid(200, 130, 64, 8)
    assert len(tiles) == 3 * 2
    weights = blend_weights(tiles, 200, 130)
    total = np.zeros((200, 130))
    for tile, w in zip(tiles, weights, strict=True):
        assert w.shape == (tile.height, tile.width) and w.min() > 0
        total[tile.slices] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    first = weights[0]
    assert first[0, 0] == 1.0 and first[-1, -1] < 0.1  # the image's corner is the tile's own; the far corner is shared


def _tiled_run(noisy: np.ndarray, clean: np.ndarray, tile: int, history: IterateHistory | None = None, **kw: object) -> DipRun:
    cfg = SkipConfig(**{**TINY.__dict__, "out_channels": noisy.shape[2]})
    params = DIPParams(iterations=40, tile=tile, variance_window=4, **kw)  # type: ignore[arg-type]
    return DipRun(noisy, params, cfg, RunContext(seed=3, reference=clean, history=history), "fast", None)


def _noisy(clean: np.ndarray) -> np.ndarray:
    return np.clip(clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)


def test_each_tile_is_fitted_as_if_alone_and_the_whole_image_is_their_blend(astronaut: np.ndarray) -> None:
    clean = np.ascontiguousarray(astronaut[100:164, 180:276])  # 64×96: 2 × 3 tiles of 32 + overlap
    noisy = _noisy(clean)
    run = _tiled_run(noisy, clean, tile=32)
    assert len(run.fits) == 6 and run.fits[0].padded_shape == (40, 40)
    for t in range(1, 16):
        run.advance(t)
    second = run.tiles[1]
    alone = _tiled_run(np.ascontiguousarray(noisy[second.slices]), clean[second.slices], tile=0)
    for t in range(1, 16):
        alone.advance(t)
    averaged = run.averaged()
    assert averaged is not None and averaged.shape == (1, 3, 64, 96)
    torch.testing.assert_close(run.fits[1].average.value, alone.averaged())
    expected = np.zeros_like(noisy)
    for tile, weight, fit in zip(run.tiles, blend_weights(run.tiles, 64, 96), run.fits, strict=True):
        expected[tile.slices] += to_numpy(fit.average.value) * weight[:, :, None]
    np.testing.assert_allclose(to_numpy(averaged), expected, atol=1e-6)


def test_a_tiled_run_reports_one_image_stops_by_rule_and_records_the_whole_image(astronaut: np.ndarray) -> None:
    clean = np.ascontiguousarray(astronaut[100:164, 180:276])
    noisy = _noisy(clean)
    history = IterateHistory(budget_bytes=64 * 2**20)
    run = _tiled_run(noisy, clean, tile=32, history=history, stop_rule="es-wmv", patience=5, keep="rule")
    snapshots = list(run.steps())
    steps, final = snapshots[:-1], snapshots[-1]
    assert steps[0].image is not None and steps[0].image.shape == clean.shape
    assert all({"psnr_noisy", "psnr_noisy_avg", "psnr_ref", "psnr_ref_avg"} <= set(s.scalars) for s in steps)
    assert final.info["stop_rule"] == "es-wmv" and final.info["tiles"] == 6 and final.info["padded_shape"] == [40, 40]
    assert final.maps["suggested"].shape == clean.shape and final.image is not None
    np.testing.assert_array_equal(final.image, final.maps["suggested"])
    assert history.steps()[-1] >= final.step - 1 and history.get(history.steps()[-1]).shape == clean.shape
    # The curve and the result are of the same blended image.
    assert psnr(final.maps["average"], clean) == pytest.approx(steps[-1].scalars["psnr_ref_avg"], abs=0.02)


def test_the_first_try_tiles_large_images_only_and_the_estimate_counts_the_tiles() -> None:
    params = DIP().starting_params(device="cpu")
    assert params.tile == 256 and DIP().starting_params(device="cuda").tile == 0
    assert len(tile_grid(256, 256, params.tile, 32)) == 1 and len(tile_grid(500, 500, params.tile, 32)) == 4
    params = params.replace(split_for_threads=False)
    whole, tiled = (DIP().estimate_cost((500, 500, 3), params.replace(tile=t, threads=1)) for t in (0, 256))
    assert whole.seconds is not None and tiled.seconds is not None
    # The same pixels (4 × 256² against 512² padded); the tiles add three networks' fixed cost per step.
    assert tiled.seconds == pytest.approx(whole.seconds + 3 * 0.02 * params.iterations, rel=1e-6)
    assert tiled.memory_bytes < whole.memory_bytes  # one tile's graph at a time


def test_tiles_on_two_threads_run_side_by_side_and_give_the_one_thread_result(astronaut: np.ndarray) -> None:
    from denoise_studio.methods._common.dip_loop import fit

    clean = np.ascontiguousarray(astronaut[100:164, 180:276])
    noisy = _noisy(clean)
    cfg = SkipConfig(**{**TINY.__dict__, "out_channels": 3})
    finals = {}
    for threads in (1, 2):
        params = DIPParams(iterations=12, tile=32, threads=threads)
        run = fit(noisy, params, cfg, RunContext(seed=3), preset="fast")
        first = next(run)
        if threads == 2:  # during the run: one op thread, the tiles on two worker threads
            assert torch.get_num_threads() == 1
        finals[threads] = [first, *run][-1]
        assert torch.get_num_threads() == 1  # the fixture's setting, restored after the run
    assert finals[2].info["tiles"] == 6
    # Each tile has its own generator and optimiser, so the order the workers take them in changes nothing.
    np.testing.assert_array_equal(finals[1].image, finals[2].image)
    np.testing.assert_array_equal(finals[1].maps["raw"], finals[2].maps["raw"])


def test_split_for_threads_cuts_an_image_of_one_tile_in_half_size_tiles_on_two_threads_only() -> None:
    params = DIP().starting_params(device="cpu")
    assert params.split_for_threads and not DIP().starting_params(device="cuda").split_for_threads
    assert [(t.top, t.left, t.height) for t in run_tiles(256, 256, 256, 32, True, 2)] == [(0, 0, 160), (0, 96, 160), (96, 0, 160), (96, 96, 160)]
    assert len(run_tiles(256, 256, 256, 32, True, 1)) == 1  # one thread: one network
    assert len(run_tiles(256, 256, 256, 32, False, 2)) == 1
    assert len(run_tiles(128, 128, 256, 32, True, 2)) == 1  # too small to split
    assert len(run_tiles(500, 500, 256, 32, True, 2)) == 4  # already tiles: unchanged
    assert run_tiles(256, 256, 0, 32, True, 2) == tile_grid(256, 256, 0, 32)  # tiles off
    one, two = (DIP().estimate_cost((256, 256, 3), params.replace(threads=n)) for n in (1, 2))
    assert one.seconds is not None and two.seconds is not None
    whole = DIP().estimate_cost((256, 256, 3), params.replace(threads=1, split_for_threads=False)).seconds
    assert whole is not None and one.seconds == pytest.approx(whole)  # one thread: not split
    assert two.seconds > whole / 1.5  # four tiles of 160 hold 56 % more pixels than the crop
