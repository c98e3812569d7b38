"""Cost estimates before a run: memory and time scale with the image, and the verdicts."""

from __future__ import annotations

import pytest

from denoise_studio.core.cost import GB, CostEstimate, judge
from denoise_studio.methods import create_method as get_method


def test_verdicts() -> None:
    assert judge(CostEstimate(1 * GB, 10.0), 8 * GB).level == "ok"
    warn = judge(CostEstimate(5 * GB, 10.0), 8 * GB)
    assert warn.level == "warn" and "5.0 GB" in warn.message and "half of the free memory" in warn.message
    slow = judge(CostEstimate(1 * GB, 3600.0), 8 * GB)
    assert slow.level == "warn" and "60 min" in slow.message
    assert judge(CostEstimate(1 * GB, 3600.0), 8 * GB, stoppable=True).level == "ok"  # stop it any time
    assert judge(CostEstimate(5 * GB, 3600.0), 8 * GB, stoppable=True).level == "warn"  # memory still counts
    refuse = judge(CostEstimate(20 * GB, None, advice="Run on a region first."), 8 * GB, what="Deep Image Prior")
    assert refuse.level == "refuse" and refuse.message.startswith("Deep Image Prior needs about 20.0 GB")
    assert "8.0 GB" in refuse.message and refuse.message.endswith("Run on a region first.")


def test_dip_on_a_large_photo_is_refused_and_a_region_is_fine() -> None:
    dip = get_method("dip")
    params = dip.Params(preset="paper", iterations=3000)
    photo = dip.estimate_cost((3000, 4000, 3), params, "cpu")
    region = dip.estimate_cost((256, 256, 3), params, "cpu")
    # Measured anchor: the fast preset at 512×512 peaked at 1.2 GB (docs/BENCHMARKS.md).
    fast = dip.estimate_cost((512, 512, 3), dip.Params(preset="fast"), "cpu")
    assert 0.6 * GB < fast.memory_bytes < 2.0 * GB
    assert photo.memory_bytes > 40 * GB and judge(photo, 24 * GB).level == "refuse"
    assert judge(region, 24 * GB).level in ("ok", "warn") and region.memory_bytes < 2 * GB
    assert photo.seconds is not None and region.seconds is not None
    # The time grows with the padded pixels (3008 × 4000) plus a fixed cost per step.
    assert 0.9 * 3008 * 4000 / 256**2 < photo.seconds / region.seconds < 3008 * 4000 / 256**2
    # Measured anchor: 0.207 s of CPU per fast-preset step at 256×256, rules fed every step
    # (bench-dip time-to-quality, docs/BENCHMARKS.md); rules every 4th step save part of the extra pass.
    fast_region = dip.estimate_cost((256, 256, 3), dip.Params(preset="fast", iterations=1000, threads=1), "cpu").seconds
    assert fast_region is not None and fast_region == pytest.approx(207, rel=0.15)
    every_fourth = dip.estimate_cost((256, 256, 3), dip.Params(preset="fast", iterations=1000, rule_every=4, threads=1), "cpu").seconds
    assert every_fourth is not None and 0.8 * fast_region < every_fourth < 0.9 * fast_region
    # Measured anchor: 0.112 s of wall time per first-try step with two threads on two idle cores.
    two_threads = dip.estimate_cost((256, 256, 3), dip.Params(preset="fast", iterations=1000, rule_every=4, threads=2), "cpu").seconds
    assert two_threads is not None and two_threads == pytest.approx(112, rel=0.15)
    assert dip.estimate_cost((256, 256, 3), params, "cuda").seconds is None  # not measured there


def test_network_methods_are_tiled_so_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_studio.methods._common import network

    monkeypatch.setattr(network, "available_memory", lambda device: 24 * GB)  # the tile depends on it
    method = get_method("formresnet")
    params = method.Params()
    small = method.estimate_cost((512, 512, 3), params)
    huge = method.estimate_cost((8000, 12000, 3), params)
    assert huge.tiled and judge(huge, 24 * GB).level != "refuse"
    # 96 MP: a few float32 copies of the image (1.1 GB each) plus one tile's working memory,
    # which the automatic tile size keeps within a quarter of the free memory.
    copies = 8000 * 12000 * 3 * 4 * 6
    assert copies < huge.memory_bytes <= copies + 0.25 * 24 * GB + 300 * 2**20
    tiny_tiles = method.estimate_cost((8000, 12000, 3), method.Params(tile_size=256))
    assert tiny_tiles.memory_bytes < huge.memory_bytes
    assert huge.seconds == pytest.approx(small.seconds * 96e6 / 512**2)
    assert method.estimate_cost((512, 512, 3), method.Params(self_ensemble=True)).seconds == pytest.approx(8 * small.seconds)


def test_classical_time_scales_with_pixels() -> None:
    bm3d = get_method("bm3d")
    one = bm3d.estimate_cost((1000, 1000, 3), bm3d.default_params())
    assert one.seconds == pytest.approx(150.0)
    assert bm3d.estimate_cost((2000, 2000, 3), bm3d.default_params()).memory_bytes > 3 * one.memory_bytes - 300 * 2**20
