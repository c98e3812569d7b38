"""AP-BSN: structural properties on random weights (no training, no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.methods._common.colour_anchor import anchor_low_frequencies
from denoise_studio.methods._common.input_fusion import fuse_with_input
from denoise_studio.methods._common.pixel_shuffle import pd_down
from denoise_studio.methods.ap_bsn import (
    APBSN,
    CONFIGS,
    NETWORK,
    APBSNNet,
    APBSNParams,
    BlindSpotNet,
    CentralMaskedConv2d,
    r3_denoise,
)

TINY = CONFIGS["lite"].__class__(base=8, modules=2)


def _net(seed: int = 0) -> APBSNNet:
    torch.manual_seed(seed)
    return APBSNNet(TINY, channels=3).eval()


def _input_grad(fn, x: torch.Tensor, y: int, x_: int) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    out = fn(x)
    out[0, :, y, x_].sum().backward()
    assert x.grad is not None
    return x.grad[0].abs().sum(dim=0)


def test_bsn_output_ignores_its_own_pixel() -> None:
    """The bare BSN (the network in the PD domain): zero gradient at the centre, not around it."""
    torch.manual_seed(0)
    bsn = BlindSpotNet(3, base=8, modules=2).double()
    x = torch.rand(1, 3, 24, 24, dtype=torch.float64)
    for y, x_ in [(12, 12), (0, 0), (23, 5)]:
        grad = _input_grad(bsn, x, y, x_)
        assert grad[y, x_].item() == 0.0
        window = grad[max(y - 1, 0) : y + 2, max(x_ - 1, 0) : x_ + 2]
        assert window.sum().item() > 0.0  # the neighbours are seen: the test can fail


def test_masked_conv_centre_gets_no_gradient() -> None:
    conv = CentralMaskedConv2d(2, 3, 5)
    conv(torch.rand(1, 2, 9, 9)).sum().backward()
    assert conv.weight.grad is not None
    assert torch.all(conv.weight.grad[:, :, 2, 2] == 0)
    assert torch.all(conv.weight.grad[:, :, 2, 1] != 0)


def test_training_pass_is_blind_in_image_domain() -> None:
    """Through PD(a = 5), the output at a pixel still never depends on that pixel."""
    net = _net().double()
    net.train()
    x = torch.rand(1, 3, 40, 35, dtype=torch.float64)
    for y, x_ in [(20, 17), (3, 34), (39, 0)]:
        grad = _input_grad(net, x, y, x_)
        assert grad[y, x_].item() == 0.0
        # its PD neighbours (5 px away in the image) are seen
        near = [(y + dy, x_ + dx) for dy, dx in [(-5, 0), (5, 0), (0, -5), (0, 5)]]
        assert sum(grad[a, b].item() for a, b in near if 0 <= a < 40 and 0 <= b < 35) > 0.0


def test_blind_spot_in_pd_domain() -> None:
    """In the pixel-shuffled mosaic the BSN sees the neighbours of a pixel but not the pixel."""
    net = _net().double()
    x = torch.rand(1, 3, 20, 20, dtype=torch.float64)
    mosaic = pd_down(x, 5, pad=2)
    grad = _input_grad(net.bsn, mosaic, 3, 3)
    assert grad[3, 3].item() == 0.0 and grad[2:5, 2:5].sum().item() > 0.0


def test_odd_size_is_padded_and_cropped_back() -> None:
    net = _net()
    x = torch.rand(1, 3, 31, 37)
    with torch.no_grad():
        assert net(x).shape == x.shape
        assert net.denoise_pd(x).shape == x.shape
        mean, spread = r3_denoise(net, x, torch.Generator().manual_seed(1), passes=2, probability=0.16)
    assert mean.shape == x.shape and spread.shape == x.shape


def test_r3_is_reproducible_with_a_seed() -> None:
    net = _net()
    x = torch.rand(1, 3, 16, 18)
    with torch.no_grad():
        a = r3_denoise(net, x, torch.Generator().manual_seed(7), passes=3, probability=0.16)
        b = r3_denoise(net, x, torch.Generator().manual_seed(7), passes=3, probability=0.16)
        c = r3_denoise(net, x, torch.Generator().manual_seed(8), passes=3, probability=0.16)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert float(a[1].mean()) > 0.0  # the passes differ: a real spread


def test_r3_probability_one_refines_the_noisy_image() -> None:
    """With p = 1 every value is replaced: each pass is the BSN on the (padded) noisy image."""
    net = _net()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        mean, spread = r3_denoise(net, x, None, passes=2, probability=1.0)
        p = net.config.pd_pad
        direct = net.refine(torch.nn.functional.pad(x, (p, p, p, p), mode="reflect"))[..., p:-p, p:-p]
    assert torch.allclose(mean, direct) and float(spread.max()) == 0.0


def test_training_loss_is_l1_to_the_noisy_input_and_never_sees_clean() -> None:
    net = _net()
    noisy = torch.rand(2, 3, 20, 20)
    g = torch.Generator().manual_seed(0)
    loss, parts = NETWORK.training_loss(net, noisy, None, g)
    with torch.no_grad():
        expected = (net(noisy) - noisy).abs().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["l1"] == pytest.approx(loss.item())
    loss2, _ = NETWORK.training_loss(net, noisy, torch.zeros_like(noisy), g)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_configs_and_recipes() -> None:
    paper = NETWORK.build("paper")
    n_params = sum(p.numel() for p in paper.parameters())
    assert 3.0e6 < n_params < 4.5e6  # 128 channels, 9 modules per branch
    assert len(paper.bsn.branch1) == 6 + 9 + 2
    recipe = NETWORK.recipe("paper")
    assert (recipe.patch_size, recipe.batch_size, recipe.learning_rate) == (120, 8, 1e-4)
    assert recipe.supervision == "self-supervised" and recipe.patch_size % 5 == 0
    lite = NETWORK.recipe("lite")
    assert lite.supervision == "self-supervised" and lite.patch_size % 5 == 0
    with pytest.raises(ValueError):
        NETWORK.build("huge")


def test_method_runs_with_random_weights_and_reports_uncertainty(odd_rgb: np.ndarray) -> None:
    method = APBSN()
    method.use_random_weights(seed=0, config="lite")
    params = APBSNParams(r3_passes=3)
    snap = run_to_end(method, odd_rgb, params, RunContext(seed=3))
    assert snap.image is not None and snap.image.shape == odd_rgb.shape and snap.image.dtype == np.float32
    assert "uncertainty" in snap.maps and snap.maps["uncertainty"].shape == odd_rgb.shape[:2]
    again = run_to_end(method, odd_rgb, params, RunContext(seed=3))
    assert again.image is not None and np.array_equal(snap.image, again.image)
    plain = run_to_end(method, odd_rgb, APBSNParams(r3=False, fuse_input=False, keep_colour=False), RunContext(seed=3))
    assert "uncertainty" not in plain.maps
    # R3, the fusion and the colour anchor off equal the PD(b) pass of the network itself
    net, _ = method.load_network(APBSNParams(), "cpu", 3)
    with torch.no_grad():
        direct = net.denoise_pd(torch.from_numpy(odd_rgb.transpose(2, 0, 1).copy())[None])[0].numpy().transpose(1, 2, 0)
    assert plain.image is not None
    np.testing.assert_allclose(plain.image, np.clip(direct, 0, 1), atol=1e-5)
    # The fusion (on by default) is that pass fused with the input, the pass as its blind estimate
    fused = run_to_end(method, odd_rgb, APBSNParams(r3=False, keep_colour=False), RunContext(seed=3))
    expected, weight = fuse_with_input(odd_rgb, direct, np.clip(direct, 0, 1))
    assert fused.image is not None and fused.info["input_weight"] == pytest.approx(float(weight.mean()), abs=1e-4)
    np.testing.assert_allclose(fused.image, np.clip(expected, 0, 1), atol=1e-5)
    # The colour anchor (on by default) then takes the slow variations from the input
    anchored = run_to_end(method, odd_rgb, APBSNParams(r3=False), RunContext(seed=3))
    assert anchored.image is not None
    np.testing.assert_allclose(anchored.image, np.clip(anchor_low_frequencies(odd_rgb, np.clip(expected, 0, 1)), 0, 1), atol=1e-5)


def test_a_region_origin_reaches_the_tiling(odd_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on a region cut at an odd row passes the region's top and left to the tiles
    (so that camera-noise networks keep the Bayer phase)."""
    from denoise_studio.methods._common import network

    seen: list[tuple[int, int]] = []
    tiled = network.iter_tiled_adaptive

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["origin"])
        return tiled(*args, **kwargs)

    monkeypatch.setattr(network, "iter_tiled_adaptive", spy)
    method = APBSN()
    method.use_random_weights(seed=0, config="lite")
    run_to_end(method, odd_rgb, APBSNParams(r3=False), RunContext(seed=3, origin=(7, 15)))
    assert seen == [(7, 15)]
