"""Pixel-shuffle downsampling: layout, padding and exact inverses."""

from __future__ import annotations

import pytest
import torch

from denoise_studio.methods._common.pixel_shuffle import (
    PassCache,
    from_subimages,
    pad_to_multiple,
    pd_down,
    pd_up,
    r3_pass,
    to_subimages,
)


@pytest.mark.parametrize(("f", "pad"), [(1, 0), (1, 2), (2, 0), (2, 2), (5, 2), (3, 1)])
def test_round_trip_is_exact(f: int, pad: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6 * f, 4 * f, generator=g)
    mosaic = pd_down(x, f, pad)
    assert mosaic.shape == (2, 3, 6 * f + 2 * f * pad, 4 * f + 2 * f * pad)
    assert torch.equal(pd_up(mosaic, f, pad), x)


def test_layout_matches_official_description() -> None:
    """Block (i, j) of the mosaic is x[i::f, j::f], inside a border of ``pad`` zeros."""
    f, pad = 5, 2
    x = torch.arange(1, 1 + 3 * 20 * 15, dtype=torch.float32).reshape(1, 3, 20, 15)
    mosaic = pd_down(x, f, pad)
    sh, sw = 20 // f, 15 // f
    ph, pw = sh + 2 * pad, sw + 2 * pad
    for i in range(f):
        for j in range(f):
            block = mosaic[:, :, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw]
            assert torch.equal(block[:, :, pad : pad + sh, pad : pad + sw], x[:, :, i::f, j::f])
            # the border is zeros (the image itself has no zero)
            assert block[:, :, :pad].abs().sum() == 0
            assert block[:, :, :, -pad:].abs().sum() == 0
    # every pixel appears exactly once
    assert torch.equal(mosaic[mosaic != 0].sort().values, x.flatten().sort().values)


def test_pad_value_is_used() -> None:
    x = torch.zeros(1, 1, 4, 4)
    mosaic = pd_down(x, 2, pad=1, pad_value=0.5)
    assert mosaic.sum().item() == pytest.approx(0.5 * (mosaic.numel() - 16))


def test_indivisible_size_is_refused() -> None:
    with pytest.raises(ValueError, match="pad_to_multiple"):
        pd_down(torch.zeros(1, 1, 7, 8), 2)


def test_pad_to_multiple_odd_size() -> None:
    x = torch.rand(1, 3, 31, 37)
    padded, size = pad_to_multiple(x, 5)
    assert padded.shape == (1, 3, 35, 40) and size == (31, 37)
    assert torch.equal(padded[..., :31, :37], x)
    assert padded[..., 31:, :].abs().sum() == 0 and padded[..., :, 37:].abs().sum() == 0
    same, _ = pad_to_multiple(torch.rand(1, 1, 10, 10), 5)
    assert same.shape == (1, 1, 10, 10)


@pytest.mark.parametrize("f", [1, 2, 5])
def test_subimage_batch_round_trip(f: int) -> None:
    x = torch.rand(2, 3, 4 * f, 3 * f)
    subs = to_subimages(x, f)
    assert subs.shape == (2 * f * f, 3, 4, 3)
    if f > 1:
        assert torch.equal(subs[f * f + 1 * f + 0], x[1, :, 1::f, 0::f])
    assert torch.equal(from_subimages(subs, f), x)


def test_subimages_agree_with_mosaic() -> None:
    x = torch.rand(1, 2, 10, 10)
    subs = to_subimages(x, 5)
    mosaic = pd_down(x, 5, pad=0)
    assert torch.equal(mosaic[:, :, 2 * 2 : 3 * 2, 4 * 2 : 5 * 2], subs[2 * 5 + 4 : 2 * 5 + 5])


def test_r3_pass_replaces_the_drawn_fraction() -> None:
    """p = 0 refines the PD result alone, p = 1 the noisy image; in between, about p of each."""
    denoised, noisy = torch.zeros(1, 3, 40, 40), torch.ones(1, 3, 40, 40)
    seen: list[torch.Tensor] = []

    def identity(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return x

    assert torch.equal(r3_pass(identity, denoised, noisy, 0.0, 2, None), denoised)
    assert seen[-1].shape == (1, 3, 44, 44)  # reflect-padded by 2 before the network
    assert torch.equal(r3_pass(identity, denoised, noisy, 1.0, 2, None), noisy)
    mixed = r3_pass(identity, denoised, noisy, 0.16, 2, torch.Generator().manual_seed(0))
    assert abs(float(mixed.mean()) - 0.16) < 0.02
    again = r3_pass(identity, denoised, noisy, 0.16, 2, torch.Generator().manual_seed(0))
    assert torch.equal(mixed, again)


def test_pass_cache_reuses_only_identical_inputs() -> None:
    cache, calls = PassCache(size=2), []
    owner = object()

    def compute(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return x * 2

    x = torch.rand(1, 1, 4, 4)
    a = cache.get(owner, "k", x, lambda: compute(x))
    b = cache.get(owner, "k", x.clone(), lambda: compute(x))
    assert a is b and len(calls) == 1
    y = x.clone()
    y[0, 0, 0, 0] += 1
    cache.get(owner, "k", y, lambda: compute(y))
    cache.get(owner, "other", x, lambda: compute(x))
    assert len(calls) == 3
    cache.clear()
    cache.get(owner, "k", x, lambda: compute(x))
    assert len(calls) == 4
