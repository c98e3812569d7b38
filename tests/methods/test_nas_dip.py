"""NAS-DIP: the upsampling-cell search space, cross-scale connections and the presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.method import MethodError, RunContext, run_to_end
from denoise_studio.methods import create_method
from denoise_studio.methods._common.skip_net import RESIZES, TRANSFORMS, SkipConfig, SkipNet, UpsampleCell
from denoise_studio.methods.nas_dip import NAS, NASDIP, NASDIPParams, network_for, resolve_preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("resize", RESIZES)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_every_cell_doubles_the_size_and_maps_channels(resize: str, transform: str) -> None:
    if resize == "depth_to_space" and transform == "identity":
        with pytest.raises(ValueError):
            SkipConfig(resize=resize, transform=transform)
        return
    cfg = SkipConfig(resize=resize, transform=transform, transform_kernel=3)
    cell = UpsampleCell(16, 16, cfg)
    y = cell(torch.rand(2, 16, 5, 7))
    assert y.shape == (2, 16, 10, 14)


def test_nearest_identity_cell_is_plain_upsampling() -> None:
    cell = UpsampleCell(4, 4, SkipConfig(resize="nearest"))
    x = torch.rand(1, 4, 3, 3)
    torch.testing.assert_close(cell(x), x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


def test_add_consecutive_channels_sums_neighbours() -> None:
    from denoise_studio.methods._common.skip_net import AddConsecutiveChannels

    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert AddConsecutiveChannels(4)(x).flatten().tolist() == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7]


def test_cross_scale_connections_change_the_network() -> None:
    plain = SkipNet(SkipConfig())
    cross = SkipNet(SkipConfig(cross_scale=True))
    # Upsampling cells from x_1..x_4 (4 levels) and double downsampling into levels 2..4.
    assert len(cross.cross_up) == 4 and len(cross.cross_down) == 3
    assert len(plain.cross_up) == 0 and len(plain.cross_down) == 0
    # The cross-scale path is live: the output depends on the coarse encoder features through it.
    z = torch.rand(1, 32, 64, 64) * 0.1
    out = cross(z)
    out.mean().backward()
    assert cross.cross_down["4"][0][0][1].weight.grad is not None


def test_presets() -> None:
    assert resolve_preset("auto", "cpu") == "fast" and resolve_preset("auto", "cuda") == "nas"
    cfg = network_for(NASDIPParams(), "nas", 3)
    assert cfg == NAS and cfg.resize == "bicubic" and cfg.transform_kernel == 7 and cfg.cross_scale
    custom = network_for(NASDIPParams(preset="custom", resize="transposed", transform="separable", channels=16, cross_scale=False), "custom", 1)
    assert custom.resize == "transposed" and custom.channels_down == (16,) * 5 and custom.out_channels == 1
    assert type(create_method("nas_dip")) is NASDIP and NASDIP.family == "Deep Image Prior"


def test_unbuildable_cell_is_a_user_error() -> None:
    params = NASDIPParams(preset="custom", resize="depth_to_space", transform="identity")
    with pytest.raises(MethodError):
        network_for(params, "custom", 3)


def test_runs_on_an_odd_image_with_a_custom_cell(odd_rgb: np.ndarray) -> None:
    params = NASDIPParams(preset="custom", iterations=2, channels=8, resize="depth_to_space", transform="add_channels", add_n=2, transform_kernel=3)
    final = run_to_end(NASDIP(), odd_rgb, params, RunContext(reference=odd_rgb))
    assert final.image is not None and final.image.shape == odd_rgb.shape
    assert "depth_to_space" in final.info["network"] and final.info["stop_iteration"] == 2
