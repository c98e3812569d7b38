"""FormResNet and DiffResNet: formatted residual learning (Jiao et al., CVPR Workshops 2017).

J. Jiao, W.-C. Tu, S. He, R. W. H. Lau, "FormResNet: Formatted Residual Learning for Image
Restoration", CVPRW (NTIRE) 2017.

* **DiffResNet** is plain residual learning: a deep convolutional network R predicts the
  difference between the degraded and the clean image, x̂ = y − R(y) (the DnCNN form, which the
  paper builds on).
* **FormResNet** puts a *formatting* stage in front: a classical pre-denoiser F removes the
  "easy" part of the noise, and the residual network only learns the structured residual that
  the pre-denoiser leaves, x̂ = F(y) + R(y, F(y)). The formatting stage here is a parameter: a
  Gaussian, median or bilateral pre-filter computed in torch (fast, differentiable, and the same
  on every device).

Loss (Sec. 3.3 of the paper): the pixel L2 loss plus a gradient loss on horizontal and vertical
Sobel responses, which penalises blurred edges. The paper also has a perceptual (VGG feature)
loss and an adversarial loss; both need pretrained networks that cannot be downloaded here, so
they are left out — the model cards say so.

Deviations, and why:

* the residual network sees both y and F(y) (two images concatenated), so that detail which the
  pre-filter has removed can be put back; a network given F(y) alone cannot recover it;
* the layer counts and widths of the ``paper`` configuration follow DnCNN (20 layers of 64
  features, batch normalisation), on which the paper's residual network is modelled; the
  ``lite`` configuration is smaller so that it trains on a CPU in half an hour;
* the noise is blind Gaussian, σ uniform in [5, 55], as in DnCNN-B.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from denoise_studio.core.network import SUPERVISED, NetworkSpec, TrainRecipe
from denoise_studio.core.params import param
from denoise_studio.methods._common.network import NetworkMethod, NetworkParams

FORMATTINGS = ("gaussian", "median", "bilateral", "none")
TRAINED = "trained"


# ------------------------------------------------------------------------------------------------
# Formatting stage: classical pre-filters in torch (N×C×H×W in [0, 1], reflect padding)
# ------------------------------------------------------------------------------------------------


def gaussian_prefilter(x: torch.Tensor, sigma: float = 1.0, radius: int = 2) -> torch.Tensor:
    """Separable Gaussian blur of standard deviation ``sigma`` px over a (2r+1)² window."""
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(xp, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def median_prefilter(x: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Median over a (2r+1)² window, each channel separately."""
    n, c, h, w = x.shape
    size = 2 * radius + 1
    xp = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    patches = F.unfold(xp, size).view(n, c, size * size, h, w)
    return patches.median(dim=2).values


def bilateral_prefilter(x: torch.Tensor, radius: int = 2, sigma_space: float = 1.5, sigma_range: float = 0.1) -> torch.Tensor:
    """Bilateral filter (Tomasi & Manduchi 1998): weights fall with distance and colour difference.

    The colour difference is taken over all channels together so that colours are not shifted.
    """
    n, c, h, w = x.shape
    size = 2 * radius + 1
    xp = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    patches = F.unfold(xp, size).view(n, c, size * size, h, w)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    spatial = torch.exp(-(t.view(-1, 1) ** 2 + t.view(1, -1) ** 2) / (2 * sigma_space**2)).view(1, 1, -1, 1, 1)
    diff2 = ((patches - x.unsqueeze(2)) ** 2).sum(dim=1, keepdim=True)
    weight = spatial * torch.exp(-diff2 / (2 * sigma_range**2 * c))
    return (weight * patches).sum(dim=2) / weight.sum(dim=2)


PREFILTERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gaussian": gaussian_prefilter,
    "median": median_prefilter,
    "bilateral": bilateral_prefilter,
    "none": lambda x: x,
}


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------


def sobel_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical Sobel responses of each channel, divided by 8 (valid region).

    With the 1/8 normalisation a ramp ``x[i, j] = a·j`` has horizontal response exactly ``a`` and
    vertical response 0, so the gradient loss is in the units of pixel differences.
    """
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device) / 8.0
    ky = kx.t()
    c = x.shape[1]
    gx = F.conv2d(x, kx.view(1, 1, 3, 3).expand(c, 1, 3, 3).contiguous(), groups=c)
    gy = F.conv2d(x, ky.reshape(1, 1, 3, 3).expand(c, 1, 3, 3).contiguous(), groups=c)
    return gx, gy


def gradient_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the horizontal plus that of the vertical Sobel responses."""
    ex, ey = sobel_gradients(estimate)
    tx, ty = sobel_gradients(target)
    return ((ex - tx) ** 2).mean() + ((ey - ty) ** 2).mean()


# ------------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------------


def _residual_body(in_channels: int, out_channels: int, features: int, depth: int) -> nn.Sequential:
    """The DnCNN-style body: conv+ReLU, (depth−2)×(conv+BN+ReLU), conv (Zhang et al. 2017, Fig. 1)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(features, out_channels, 3, padding=1))
    body = nn.Sequential(*layers)
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    # The last layer starts small: at initialisation the network is (nearly) the identity or the
    # pre-filter, not noise.
    last = layers[-1]
    assert isinstance(last, nn.Conv2d)
    last.weight.data.mul_(0.1)
    return body


class DiffResNetNet(nn.Module):
    """x̂ = y − R(y): the network predicts the noise (plain residual learning)."""

    def __init__(self, channels: int, features: int, depth: int) -> None:
        super().__init__()
        self.body = _residual_body(channels, channels, features, depth)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = y - self.body(y)
        return out


class FormResNetNet(nn.Module):
    """x̂ = F(y) + R(y, F(y)): the network refines a classical pre-denoiser's output."""

    def __init__(self, channels: int, features: int, depth: int, formatting: str) -> None:
        super().__init__()
        if formatting not in PREFILTERS:
            raise ValueError(f"unknown formatting stage {formatting!r}; choose {', '.join(PREFILTERS)}")
        self.formatting = formatting
        self.body = _residual_body(2 * channels, channels, features, depth)

    def forward(self, y: torch.Tensor, formatting: str | None = None) -> torch.Tensor:
        formatted = PREFILTERS[formatting or self.formatting](y)
        out: torch.Tensor = formatted + self.body(torch.cat([y, formatted], dim=1))
        return out


@dataclass(frozen=True)
class _Size:
    features: int
    depth: int


SIZES = {"lite": _Size(features=32, depth=10), "paper": _Size(features=64, depth=20)}


def _recipe(config: str) -> TrainRecipe:
    if config == "lite":
        # Sized to make real progress in ~30 minutes of one shared CPU thread (about 0.35 s a
        # step here); with --minutes the loop fits the cosine schedule to the budget.
        return TrainRecipe(
            supervision=SUPERVISED,
            patch_size=40,
            batch_size=16,
            steps=8000,
            learning_rate=1e-3,
            schedule="cosine",
            min_learning_rate=1e-5,
            grad_clip=1.0,
            ema_decay=0.999,
            noise="gaussian",
            sigma=(5.0, 55.0),
            validate_every=250,
            source="lite: a CPU-sized DnCNN-style body; blind σ 5–55 as DnCNN-B; schedule chosen for a 30-minute budget",
        )
    return TrainRecipe(
        supervision=SUPERVISED,
        patch_size=50,
        batch_size=128,
        steps=180_000,
        learning_rate=1e-3,
        schedule="multistep",
        milestones=(0.33, 0.66),
        gamma=0.1,
        grad_clip=None,
        noise="gaussian",
        sigma=(5.0, 55.0),
        validate_every=2000,
        source="DnCNN-B training (Zhang et al. 2017: 50×50 patches, batch 128, Adam 1e-3 decayed ×0.1); Jiao et al. give no other schedule we could verify",
    )


class _ResidualSpec(NetworkSpec):
    gradient_weight: ClassVar[float] = 1.0
    # Measured: a 12 MP photo took 345 s with the lite network on the development CPU.
    seconds_per_megapixel: ClassVar[float] = 30.0
    # Copied into every model card by the training loop.
    limitations: ClassVar[str] = (
        "loss = pixel L2 + Sobel gradient loss only: the paper's perceptual (VGG) and adversarial "
        "terms need pretrained networks that cannot be downloaded here and are left out"
    )

    def recipe(self, config: str) -> TrainRecipe:
        self.check_config(config)
        return _recipe(config)

    def training_loss(
        self,
        net: nn.Module,
        noisy: torch.Tensor,
        clean: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pixel L2 plus ``gradient_weight`` × the Sobel gradient loss (Sec. 3.3, eqs. 3–4).

        The perceptual and adversarial terms of the paper are not used (see the module doc).
        """
        if clean is None:
            raise ValueError(f"{self.method_id} is supervised: it needs clean images")
        estimate = net(noisy)
        pixel = ((estimate - clean) ** 2).mean()
        grad = gradient_loss(estimate, clean)
        loss = pixel + self.gradient_weight * grad
        return loss, {"l2": pixel.detach(), "sobel": grad.detach()}


class DiffResNetSpec(_ResidualSpec):
    """DiffResNet: residual learning of the noise, x̂ = y − R(y)."""

    method_id = "diffresnet"

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        size = SIZES[config]
        return DiffResNetNet(channels, size.features, size.depth)


class FormResNetSpec(_ResidualSpec):
    """FormResNet: a formatting pre-denoiser, then residual refinement x̂ = F(y) + R(y, F(y))."""

    method_id = "formresnet"
    formatting: ClassVar[str] = "gaussian"

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        size = SIZES[config]
        return FormResNetNet(channels, size.features, size.depth, self.formatting)


# ------------------------------------------------------------------------------------------------
# Methods
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormResNetParams(NetworkParams):
    formatting: str = param(
        TRAINED,
        choices=(TRAINED, *FORMATTINGS),
        title="Formatting stage",
        description="the classical pre-denoiser in front of the network; 'trained' uses the one the weights were trained with (another one shows what the refinement contributes)",
    )


class FormResNet(NetworkMethod[FormResNetParams]):
    """FormResNet (Jiao et al., CVPRW 2017): a pre-denoiser refined by a residual network."""

    id = "formresnet"
    title = "FormResNet"
    family = "Supervised"
    Params = FormResNetParams
    description = "Formatted residual learning: a classical pre-filter, then a residual CNN trained with an L2 + Sobel-gradient loss."

    def forward(self, net: nn.Module, x: torch.Tensor, params: FormResNetParams, generator: torch.Generator | None) -> torch.Tensor:
        formatting = None if params.formatting == TRAINED else params.formatting
        out: torch.Tensor = net(x, formatting)
        return out


class DiffResNet(NetworkMethod[NetworkParams]):
    """DiffResNet (Jiao et al., CVPRW 2017): plain residual learning, x̂ = y − R(y)."""

    id = "diffresnet"
    title = "DiffResNet"
    family = "Supervised"
    Params = NetworkParams
    description = "Plain residual learning of the noise by a CNN trained with an L2 + Sobel-gradient loss (FormResNet without its formatting stage)."
    network_attr = "DIFF_NETWORK"


NETWORK = FormResNetSpec()
DIFF_NETWORK = DiffResNetSpec()
