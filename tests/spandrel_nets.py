"""Tiny networks of public architectures, built with spandrel's own classes, for the import tests.

Each entry makes a randomly initialised network small enough to run in milliseconds, and its
direct forward pass (what the studio's output is compared with). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from denoise_studio.methods._common.torchvision_standin import ensure_torchvision

ensure_torchvision()

from spandrel.architectures.Compact import Compact  # noqa: E402 - after the torchvision check
from spandrel.architectures.DnCNN import DnCNN  # noqa: E402
from spandrel.architectures.DRUNet import DRUNet  # noqa: E402
from spandrel.architectures.NAFNet import NAFNet  # noqa: E402
from spandrel.architectures.SCUNet import SCUNet  # noqa: E402

# DRUNet takes a noise-level map as a fourth channel; spandrel gives it σ = 15 (its repository's default).
DRUNET_SIGMA = 15 / 255


def _drunet_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    level = torch.full((x.shape[0], 1, x.shape[2], x.shape[3]), DRUNET_SIGMA)
    return net(torch.cat([x, level], dim=1))


#: name → (builder, direct forward pass, architecture id spandrel reports)
DENOISERS: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module, torch.Tensor], torch.Tensor], str]] = {
    "dncnn": (lambda: DnCNN(in_nc=3, out_nc=3, nc=8, nb=5, act_mode="BR"), lambda net, x: net(x), "DnCNN"),
    "dncnn_grey": (lambda: DnCNN(in_nc=1, out_nc=1, nc=8, nb=8, act_mode="R"), lambda net, x: net(x), "DnCNN"),
    "drunet": (lambda: DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=4), _drunet_forward, "DRUNet"),
    "nafnet": (lambda: NAFNet(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1]), lambda net, x: net(x), "NAFNet"),
    "scunet": (lambda: SCUNet(in_nc=3, config=[1] * 7, dim=64), lambda net, x: net(x), "SCUNet"),
}


def make_network(name: str, seed: int = 0) -> nn.Module:
    """A randomly initialised, tiny network of the entry ``name``, in eval mode."""
    torch.manual_seed(seed)
    net = DENOISERS[name][0]()
    # Batch-normalisation statistics away from (0, 1), so a state dict that loses them shows.
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def super_resolution_network() -> nn.Module:
    """A ×2 super-resolution network (Real-ESRGAN's compact one): must be refused."""
    torch.manual_seed(0)
    return Compact(num_feat=8, num_conv=2, upscale=2).eval()


def direct_output(name: str, net: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network's own forward pass on a 1×C×H×W image, clamped to [0, 1] as spandrel does."""
    with torch.no_grad():
        return DENOISERS[name][1](net, image).clamp(0, 1)
