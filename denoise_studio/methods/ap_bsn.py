"""AP-BSN: asymmetric pixel-shuffle downsampling with a blind-spot network.

Lee, Son and Lee, "AP-BSN: Self-Supervised Denoising for Real-World Images via Asymmetric PD and
Blind-Spot Network", CVPR 2022.

A blind-spot network (BSN) predicts each pixel from its neighbours only, so it can be trained
to reproduce the *noisy* image (L1 loss, no clean image): for noise that is independent from
pixel to pixel the best such prediction is the clean value. Real camera noise is spatially
correlated, which lets a BSN see the noise of the hidden pixel through its neighbours; AP-BSN
therefore runs the BSN on pixel-shuffle downsampled sub-images (PD), where neighbours were
``a = 5`` pixels apart (Sec. 3.2), and infers with a smaller stride ``b = 2`` that keeps more
detail (asymmetric PD), then refines with random-replacing refinement R3 (Sec. 3.3).

The BSN is the paper's (Sec. 3.4 and the supplement; the official ``DBSNl``): a 1×1 head, two
branches that each start with a centrally masked convolution (3×3 or 5×5) followed by
residual dilated 3×3 convolutions (dilation 2 or 3), and a 1×1 tail. A masked k×k kernel
reaches offsets in [−(k−1)/2, (k−1)/2]² except the centre, and a dilation d > (k−1)/2 can never
bring any of them back to the centre, so the output at a pixel never depends on that pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from denoise_studio.core.network import SELF_SUPERVISED, NetworkSpec, TrainRecipe
from denoise_studio.core.params import param
from denoise_studio.core.tiling import SizeRequirements
from denoise_studio.methods._common.blind_spot import BlindSpotMethod, DilatedResidual, R3Params, r3_ensemble, sidd_paper_recipe
from denoise_studio.methods._common.pixel_shuffle import pad_to_multiple, pd_down, pd_up

__all__ = ["APBSN", "APBSNParams", "APBSNNet", "APBSNSpec", "BlindSpotNet", "CentralMaskedConv2d", "NETWORK"]


# ------------------------------------------------------------------------------------ blocks


class CentralMaskedConv2d(nn.Conv2d):
    """A k×k convolution whose centre tap is held at zero (the blind spot, Sec. 3.4).

    The mask multiplies the weight in every forward pass (not in place), so the centre tap has
    exactly zero effect and receives exactly zero gradient.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones(1, 1, kernel_size, kernel_size)
        mask[..., kernel_size // 2, kernel_size // 2] = 0.0
        self.mask: torch.Tensor
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _branch(channels: int, dilation: int, modules: int) -> nn.Sequential:
    """Masked (2d−1)×(2d−1) convolution, two 1×1 layers, ``modules`` dilated residuals, 1×1."""
    layers: list[nn.Module] = [
        CentralMaskedConv2d(channels, channels, 2 * dilation - 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1),
        nn.ReLU(inplace=True),
    ]
    layers += [DilatedResidual(channels, dilation) for _ in range(modules)]
    layers += [nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class BlindSpotNet(nn.Module):
    """The two-branch dilated blind-spot network of AP-BSN (official name DBSNl).

    Branch 1: 3×3 masked convolution, dilation 2; branch 2: 5×5 masked convolution, dilation 3.
    Everything else is 1×1, so the output at a pixel is independent of that pixel's input.
    """

    def __init__(self, channels: int = 3, base: int = 128, modules: int = 9) -> None:
        super().__init__()
        if base % 2:
            raise ValueError("the base channel count must be even")
        self.head = nn.Sequential(nn.Conv2d(channels, base, 1), nn.ReLU(inplace=True))
        self.branch1 = _branch(base, 2, modules)
        self.branch2 = _branch(base, 3, modules)
        self.tail = nn.Sequential(
            nn.Conv2d(2 * base, base, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(base, base // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(base // 2, base // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(base // 2, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.tail(torch.cat([self.branch1(features), self.branch2(features)], dim=1))


@dataclass(frozen=True)
class APBSNConfig:
    """Architecture and PD settings of one configuration."""

    base: int
    modules: int
    pd_train: int = 5  # a (Sec. 3.2, official default)
    pd_test: int = 2  # b
    pd_pad: int = 2  # zeros around each sub-image of the PD mosaic (official default)
    r3_passes: int = 8  # T (Sec. 3.3)
    r3_probability: float = 0.16  # p


CONFIGS: dict[str, APBSNConfig] = {
    # The paper's network: 128 base channels, 9 modules per branch (about 3.7 M parameters).
    "paper": APBSNConfig(base=128, modules=9),
    # Sized for a CPU: about 0.13 M parameters, ~30× fewer operations per pixel.
    "lite": APBSNConfig(base=32, modules=4),
    # The lite network trained with PD stride a = 3 instead of 5: enough to break the noise
    # correlation of a bilinear demosaicking (2 px reach), and it keeps 5/3 more of the detail
    # of small images. The paper's a = 5 is tuned to SIDD's 12-megapixel phone photos.
    "lite_a3": APBSNConfig(base=32, modules=4, pd_train=3),
}


class APBSNNet(nn.Module):
    """The blind-spot network wrapped in PD: ``forward`` is the training pass (stride a).

    :meth:`denoise_pd` is the inference pass with stride ``b``; :meth:`refine` is the bare BSN
    that R3 runs on the full-resolution image.
    """

    def __init__(self, config: APBSNConfig, channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.bsn = BlindSpotNet(channels, config.base, config.modules)

    def forward(self, x: torch.Tensor, stride: int | None = None) -> torch.Tensor:
        """PD with ``stride`` (default: the training stride a), BSN, inverse PD.

        Sizes that ``stride`` does not divide are zero-padded at the bottom and right and
        cropped back, as in the official inference.
        """
        f = self.config.pd_train if stride is None else stride
        padded, (h, w) = pad_to_multiple(x, f)
        p = self.config.pd_pad
        if f > 1:
            out = pd_up(self.bsn(pd_down(padded, f, p)), f, p)
        else:
            out = self.bsn(F.pad(padded, (p, p, p, p)))[..., p : p + padded.shape[-2], p : p + padded.shape[-1]]
        return out[..., :h, :w]

    def denoise_pd(self, x: torch.Tensor, stride: int | None = None) -> torch.Tensor:
        """The PD pass of inference, with stride b (default: the configuration's)."""
        return self.forward(x, self.config.pd_test if stride is None else stride)

    def refine(self, x: torch.Tensor) -> torch.Tensor:
        """The BSN alone, on a full-resolution image (the network R3 uses)."""
        return self.bsn(x)


def r3_denoise(
    net: APBSNNet,
    noisy: torch.Tensor,
    generator: torch.Generator | None,
    passes: int,
    probability: float,
    stride: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PD inference followed by ``passes`` R3 passes: (mean, per-pixel standard deviation)."""
    return r3_ensemble(net, net.denoise_pd(noisy, stride), noisy, generator, passes, probability)


# ------------------------------------------------------------------------------------ spec


class APBSNSpec(NetworkSpec):
    """How to build, train (self-supervised) and run AP-BSN."""

    method_id: ClassVar[str] = "ap_bsn"
    configs: ClassVar[tuple[str, ...]] = ("lite", "lite_a3", "paper")
    # The network pads to its PD stride itself (with zeros, which keeps the blind spot exact).
    size_requirements: ClassVar[SizeRequirements] = SizeRequirements(multiple_of=1, minimum=8)

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        return APBSNNet(CONFIGS[config], channels)

    def recipe(self, config: str) -> TrainRecipe:
        self.check_config(config)
        if config == "paper":
            return sidd_paper_recipe(
                
                    "AP-BSN paper Sec. 4.1 and official conf/APBSN_SIDD.yaml: 120×120 random crops, "
                    "flips and rotations, batch 8, Adam(0.9, 0.999) at 1e-4 ×0.1 every 8 of 20 epochs, "
                    "self-supervised L1 on SIDD-Medium; here the camera noise model stands in for SIDD"
                
            )
        return TrainRecipe(
            supervision=SELF_SUPERVISED,
            patch_size=120,
            batch_size=2,
            steps=20_000,
            learning_rate=3e-4,
            betas=(0.9, 0.999),
            schedule="cosine",
            min_learning_rate=1e-5,
            noise="camera",
            sigma=(5.0, 15.0),
            validate_every=500,
            source=(
                "CPU budget: the paper's 120×120 crops (24×24 sub-images at a = 5) but batch 2, a higher "
                "rate with a cosine decay to make the most of minutes instead of days"
            ),
        )

    def training_loss(
        self,
        net: nn.Module,
        noisy: torch.Tensor,
        clean: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Self-supervised L1 between the PD(a)-BSN output and the noisy input itself (Eq. 4).

        ``clean`` is never looked at.
        """
        out = net(noisy)
        loss = F.l1_loss(out, noisy)
        return loss, {"l1": loss.detach()}

    def denoise(self, net: nn.Module, noisy: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """PD(b) inference and R3 with the configuration's T and p."""
        assert isinstance(net, APBSNNet)
        cfg = net.config
        return r3_denoise(net, noisy, generator, cfg.r3_passes, cfg.r3_probability)[0]


NETWORK = APBSNSpec()


# ------------------------------------------------------------------------------------ method


@dataclass(frozen=True)
class APBSNParams(R3Params):
    """Inference settings of AP-BSN (the defaults are the paper's)."""

    pd_stride: int = param(
        2,
        minimum=1,
        maximum=6,
        title="Inference PD stride (b)",
        description="pixel-shuffle stride at inference; larger removes more correlated noise but loses detail (training uses 5)",
        advanced=True,
    )


class APBSN(BlindSpotMethod[APBSNParams]):
    """AP-BSN (Lee et al., CVPR 2022): asymmetric PD (a = 5, b = 2), blind-spot network, R3.

    Trained on noisy images alone. With R3 on, the result is the mean of T refinement passes
    and ``maps["uncertainty"]`` their per-pixel standard deviation.
    """

    id = "ap_bsn"
    title = "AP-BSN"
    family = "Self-supervised"
    Params = APBSNParams
    description = "Self-supervised blind-spot network for real, spatially correlated noise (asymmetric PD + R3)."

    def first_pass(self, net: nn.Module, x: torch.Tensor, params: APBSNParams) -> torch.Tensor:
        assert isinstance(net, APBSNNet)
        return net.denoise_pd(x, params.pd_stride)

    def first_pass_key(self, params: APBSNParams) -> object:
        return params.pd_stride

