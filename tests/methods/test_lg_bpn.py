"""LG-BPN: structural properties on random weights (no training, no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.methods.lg_bpn import (
    BLIND_RADIUS,
    DSPMC,
    LGBPN,
    NETWORK,
    GlobalBranch,
    LGBPNConfig,
    LGBPNNet,
    LGBPNParams,
    r3_denoise,
)

TINY = LGBPNConfig(head=4, base=8, local_modules=1, global_blocks=2, heads=2, expansion=1.0)
H, W = 60, 40


def _net(seed: int = 0) -> LGBPNNet:
    torch.manual_seed(seed)
    return LGBPNNet(TINY).double()


def _patch_gradients(net: LGBPNNet, y: int, x: int, mode: str = "train") -> tuple[float, float]:
    """Summed |∂out(y, x)/∂in| inside the blind diamond, and on the ring just outside it."""
    torch.manual_seed(1)
    inp = torch.rand(1, 3, H, W, dtype=torch.float64, requires_grad=True)
    net(inp, mode)[0, :, y, x].sum().backward()
    assert inp.grad is not None
    grad = inp.grad[0].abs().sum(dim=0)
    inside = ring = 0.0
    for dy in range(-BLIND_RADIUS - 2, BLIND_RADIUS + 3):
        for dx in range(-BLIND_RADIUS - 2, BLIND_RADIUS + 3):
            a, b = y + dy, x + dx
            if not (0 <= a < H and 0 <= b < W):
                continue
            d = abs(dy) + abs(dx)
            if d <= BLIND_RADIUS:
                inside += grad[a, b].item()
            elif d <= BLIND_RADIUS + 2:
                ring += grad[a, b].item()
    return inside, ring


@pytest.mark.parametrize(("y", "x"), [(30, 20), (29, 20), (0, 0), (59, 39)])
def test_output_is_blind_to_the_whole_diamond(y: int, x: int) -> None:
    """At the training strides, no input in |dy| + |dx| <= 4 reaches the output; the ring does.

    (29, 20) and (30, 20) sit on either side of the global branch's split, (0, 0) and (59, 39)
    in corners.
    """
    inside, ring = _patch_gradients(_net(), y, x)
    assert inside == 0.0
    assert ring > 0.0


def test_attention_without_guard_would_leak() -> None:
    """The check above can fail: with no guard band the attention context sees the patch."""
    net = _net()
    original = GlobalBranch.guard
    try:
        GlobalBranch.guard = lambda self, stride: 0  # type: ignore[method-assign]
        inside, _ = _patch_gradients(net, 29, 20)
    finally:
        GlobalBranch.guard = original  # type: ignore[method-assign]
    assert inside > 0.0


def test_centre_stays_blind_at_test_strides() -> None:
    """At inference strides (3, 4) the diamond shrinks (asymmetric PD) but the centre stays blind."""
    torch.manual_seed(1)
    net = _net()
    inp = torch.rand(1, 3, 48, 48, dtype=torch.float64, requires_grad=True)
    net(inp, "test")[0, :, 20, 21].sum().backward()
    assert inp.grad is not None
    assert inp.grad[0, :, 20, 21].abs().sum().item() == 0.0


def test_dspmc_masks() -> None:
    local = DSPMC(1, 1, 9)
    assert local.mask.shape[-1] == 9 and local.dilation == (1, 1)
    assert int((local.mask == 0).sum()) == 41  # the diamond of radius 4 has 41 pixels
    wide = DSPMC(1, 1, 21)
    assert wide.mask.shape[-1] == 11 and wide.dilation == (2, 2)
    assert int((wide.mask == 0).sum()) == 13  # the even points of that diamond
    assert wide.reach == 10 and local.reach == 4
    # The masked taps carry no weight and receive no gradient.
    wide(torch.rand(1, 1, 30, 30)).sum().backward()
    assert wide.weight.grad is not None
    assert torch.all(wide.weight.grad[0, 0][wide.mask[0, 0] == 0] == 0)
    with pytest.raises(ValueError):
        DSPMC(1, 1, 7)


@pytest.mark.parametrize("mode", ["train", "test", "refine"])
def test_odd_size_is_padded_and_cropped_back(mode: str) -> None:
    net = _net().float().eval()
    x = torch.rand(1, 3, 31, 37)
    with torch.no_grad():
        assert net(x, mode).shape == x.shape


def test_r3_is_reproducible_with_a_seed() -> None:
    net = _net().float().eval()
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        a = r3_denoise(net, x, torch.Generator().manual_seed(5), passes=3, probability=0.16)
        b = r3_denoise(net, x, torch.Generator().manual_seed(5), passes=3, probability=0.16)
        c = r3_denoise(net, x, torch.Generator().manual_seed(6), passes=3, probability=0.16)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and float(a[1].mean()) > 0.0


def test_training_loss_never_sees_clean() -> None:
    net = _net().float()
    noisy = torch.rand(2, 3, 40, 40)
    g = torch.Generator().manual_seed(0)
    loss, parts = NETWORK.training_loss(net, noisy, None, g)
    loss_with_clean, _ = NETWORK.training_loss(net, noisy, torch.zeros_like(noisy), g)
    assert loss.item() == pytest.approx(loss_with_clean.item(), rel=1e-6)
    assert parts["l1"] == pytest.approx(loss.item())
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_configs_and_recipes() -> None:
    paper = NETWORK.build("paper")
    assert paper.config.base == 128 and paper.config.local_modules == 9 and paper.config.global_blocks == 6
    assert 3.0e6 < sum(p.numel() for p in paper.parameters()) < 4.5e6
    for config in ("lite", "paper"):
        recipe = NETWORK.recipe(config)
        assert recipe.supervision == "self-supervised"
        assert recipe.patch_size % 5 == 0
    assert (NETWORK.recipe("paper").patch_size, NETWORK.recipe("paper").batch_size) == (120, 8)


def test_method_runs_with_random_weights(odd_rgb: np.ndarray) -> None:
    method = LGBPN()
    method.use_random_weights(seed=0, config="lite")
    params = LGBPNParams(r3_passes=2)
    snap = run_to_end(method, odd_rgb, params, RunContext(seed=2))
    assert snap.image is not None and snap.image.shape == odd_rgb.shape and snap.image.dtype == np.float32
    assert snap.maps["uncertainty"].shape == odd_rgb.shape[:2]
    again = run_to_end(method, odd_rgb, params, RunContext(seed=2))
    assert again.image is not None and np.array_equal(snap.image, again.image)
