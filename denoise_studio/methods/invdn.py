"""InvDN: the invertible denoising network (Liu et al., CVPR 2021).

"Invertible Denoising Network: A Light Solution for Real Noise Removal", Y. Liu, Z. Qin,
S. Anwar, P. Ji, D. Kim, S. Caldwell, T. Gedeon, CVPR 2021 (arXiv:2104.10546).

The network is a bijection. Its forward pass turns a noisy image into a low-resolution clean
image (the first C channels, C = 3 for RGB) and a latent ``z`` that carries the noise and the
high frequencies; denoising discards ``z``, draws a fresh one from N(0, I) and runs the network
backwards (the method section and its Fig. 3). Averaging several such draws is the paper's
Monte Carlo self-ensemble; the spread of the draws is offered as an uncertainty map.
Perturbing the noisy ``z`` instead of discarding it makes new noisy versions of the input (the
paper's noise-generation experiment). Parts of the paper are cited by name, not by section
number, because the numbers could not be checked against the published PDF here.

Every block below is written from the paper; the defaults that the paper leaves out (the
coupling's clamp, the subnetwork widths, the loss weights, the recipe) were read from the
authors' repository (github.com/Yang-Liu1082/InvDN, ``Inv_arch.py``, ``Subnet_constructor.py``,
``train_InvDN.yml``); the code is our own.

Not in the paper: a denoised result takes its slow variations from the input (``keep_colour``,
on by default; ``methods/_common/colour_anchor.py`` with its clip guard), which removes the flat
colour casts of the shipped lite networks (up to 1.6 levels) at no measured cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from denoise_studio.core.method import RunContext, Snapshot
from denoise_studio.core.network import SUPERVISED, NetworkSpec, TrainRecipe
from denoise_studio.core.params import param
from denoise_studio.core.tiling import SizeRequirements
from denoise_studio.methods._common.colour_anchor import ANCHOR_SIGMA, CLIP_GUARD, anchor_low_frequencies, keep_colour_param
from denoise_studio.methods._common.haar import HaarDownsampling, low_band_as_image
from denoise_studio.methods._common.network import NetworkMethod, NetworkParams

__all__ = [
    "CONFIGS",
    "NETWORK",
    "AffineCoupling",
    "InvDN",
    "InvDNParams",
    "InvDNConfig",
    "InvDNNet",
    "InvDNSpec",
    "ResidualSubnet",
    "generate_noisy_variants",
    "invdn_loss",
    "mc_restore",
    "noise_statistics",
]


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


class ResidualSubnet(nn.Module):
    """The coupling subnetwork ("Resnet" subnet of the official code; the invertible block of Fig. 3).

    Two 3×3 convolutions with LeakyReLU(0.2) compute ``features`` feature maps; the output
    convolution sees them concatenated with the input (a residual connection by concatenation).
    """

    def __init__(self, in_channels: int, out_channels: int, features: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.conv3 = nn.Conv2d(in_channels + features, out_channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv1(x))
        h = self.act(self.conv2(h))
        return self.conv3(torch.cat((x, h), dim=1))


class AffineCoupling(nn.Module):
    """One invertible block: affine coupling of the first ``split`` channels against the rest.

    With ``x = (x1, x2)`` split along the channels (the paper's invertible block)::

        y1 = x1 + F(x2)
        s  = clamp · (2·sigmoid(H(y1)) − 1)          scale bounded to (−clamp, clamp)
        y2 = x2 ⊙ exp(s) + G(y1)

    and exactly backwards ``x2 = (y2 − G(y1)) ⊙ exp(−s)``, ``x1 = y1 − F(x2)``. ``F``, ``G`` and
    ``H`` are :class:`ResidualSubnet` s; ``clamp = 1`` as in the official code.
    """

    def __init__(self, channels: int, split: int, features: int = 64, clamp: float = 1.0) -> None:
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f"split must lie in (0, {channels}), got {split}")
        self.split = split
        self.clamp = clamp
        rest = channels - split
        self.F = ResidualSubnet(rest, split, features)
        self.G = ResidualSubnet(split, rest, features)
        self.H = ResidualSubnet(split, rest, features)

    def _scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * (2.0 * torch.sigmoid(self.H(y1)) - 1.0)

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        a, b = x[:, : self.split], x[:, self.split :]
        if not reverse:
            y1 = a + self.F(b)
            y2 = b * torch.exp(self._scale(y1)) + self.G(y1)
            return torch.cat((y1, y2), dim=1)
        # Here a = y1 and b = y2.
        x2 = (b - self.G(a)) * torch.exp(-self._scale(a))
        x1 = a - self.F(x2)
        return torch.cat((x1, x2), dim=1)


@dataclass(frozen=True)
class InvDNConfig:
    """Size of an InvDN: ``blocks[i]`` couplings after the i-th Haar level, subnet width, clamp."""

    blocks: tuple[int, ...] = (8, 8)
    features: int = 64
    clamp: float = 1.0

    @property
    def levels(self) -> int:
        return len(self.blocks)


CONFIGS: dict[str, InvDNConfig] = {
    # The paper: 2 downscale blocks of 8 invertible blocks, 64-channel ResBlock subnets
    # (train_InvDN.yml: block_num [8, 8], scale 4). 2.64 M parameters for RGB.
    "paper": InvDNConfig(blocks=(8, 8), features=64),
    # For CPUs: the same two levels (so the low-resolution image is still ×4 smaller), half
    # the couplings and half the subnet width: about 1/8 of the arithmetic, 0.45 M parameters.
    "lite": InvDNConfig(blocks=(4, 4), features=32),
}


class InvDNNet(nn.Module):
    """The InvDN bijection: ``levels`` × (Haar downsampling, ``blocks[i]`` affine couplings).

    ``net(x)`` maps N×C×H×W to N×4^L·C×H/2^L×W/2^L whose first C channels are the
    low-resolution image in orthonormal-Haar units (2^L times the block means; see
    :meth:`low_resolution`) and the rest the latent ``z``. ``net(y, reverse=True)`` inverts.
    ``net(x, latent=z)`` is the training round trip in one call (so that a DistributedDataParallel
    wrapper sees a single forward): it returns ``(y, x̂)`` where ``x̂`` is the inverse of the
    low-resolution part of ``y`` joined with ``z``.
    """

    def __init__(self, channels: int = 3, config: InvDNConfig | None = None) -> None:
        super().__init__()
        config = config or CONFIGS["paper"]
        self.channels = channels
        self.config = config
        ops: list[nn.Module] = []
        width = channels
        for n_blocks in config.blocks:
            ops.append(HaarDownsampling())
            width *= 4
            # Couplings split the first C channels (the low-resolution image) from the rest.
            ops.extend(AffineCoupling(width, channels, config.features, config.clamp) for _ in range(n_blocks))
        self.ops = nn.ModuleList(ops)

    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def scale(self) -> int:
        """Downsampling factor of the low-resolution image (4 for two levels)."""
        return 2**self.levels

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Forward pass: noisy image → (low-resolution image, latent) stacked along channels."""
        for op in self.ops:
            x = op(x)
        return x

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse pass: the image whose :meth:`encode` is ``y``."""
        for op in reversed(self.ops):
            y = op(y, reverse=True)
        return y

    def latent_shape(self, y: torch.Tensor) -> tuple[int, int, int, int]:
        """Shape of ``z`` for an encoded batch ``y``."""
        n, c, h, w = y.shape
        return (n, c - self.channels, h, w)

    def low_resolution(self, y: torch.Tensor) -> torch.Tensor:
        """The low-resolution image of an encoded batch, on the pixel scale of the input."""
        return low_band_as_image(y, self.channels, self.levels)

    def forward(
        self, x: torch.Tensor, reverse: bool = False, latent: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if reverse:
            return self.decode(x)
        y = self.encode(x)
        if latent is None:
            return y
        return y, self.decode(torch.cat((y[:, : self.channels], latent), dim=1))


# --------------------------------------------------------------------------------------------
# Sampling, loss, denoising, noise generation
# --------------------------------------------------------------------------------------------


def _randn(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal samples on ``like``'s device, drawn from ``generator`` wherever it lives."""
    device = generator.device if generator is not None else like.device
    z = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return z.to(like.device)


def _encode(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    assert isinstance(out, torch.Tensor)
    return out


def _decode(net: nn.Module, y: torch.Tensor) -> torch.Tensor:
    out = net(y, reverse=True)
    assert isinstance(out, torch.Tensor)
    return out


def _channels(net: nn.Module) -> int:
    inner = getattr(net, "module", net)  # a DistributedDataParallel wrapper keeps the net here
    return int(inner.channels)  # type: ignore[arg-type]


def _levels(net: nn.Module) -> int:
    inner = getattr(net, "module", net)
    return int(inner.levels)  # type: ignore[arg-type]


def bicubic_reference(clean: torch.Tensor, scale: int) -> torch.Tensor:
    """The clean image downsampled ``scale`` times by antialiased bicubic interpolation.

    The target of the paper's forward loss: the official data loader builds it with a
    MATLAB-style ``imresize``, which is bicubic with an antialiasing kernel, as here.
    """
    h, w = clean.shape[-2:]
    return F.interpolate(clean, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)


def invdn_loss(
    net: nn.Module,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    generator: torch.Generator | None,
    lambda_forward: float = 16.0,
    lambda_backward: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The InvDN training loss of one batch: the paper's forward plus backward objective.

    ``λ_f · Σ (LR − bicubic(clean))²  +  λ_b · Σ |net⁻¹(LR, z) − clean|`` with z ~ N(0, I),
    each sum over the pixels of one image and averaged over the batch, as in the official code
    (``lambda_fit_forw = 16``, ``lambda_rec_back = 1``; the per-image sum keeps the gradient
    clipping threshold of 10 meaningful). Deviations: the backward term is the plain L1 of the
    paper, not the official code's Charbonnier-with-gradient-and-SSIM mix for real noise; the
    low-resolution output is compared on the pixel scale (our Haar is orthonormal, see
    ``_common/haar.py``).
    """
    c = _channels(net)
    levels = _levels(net)
    scale = 2**levels
    n, _, h, w = noisy.shape
    latent = _randn((n, c * (scale * scale - 1), h // scale, w // scale), noisy, generator)
    out = net(noisy, latent=latent)
    assert isinstance(out, tuple)
    y, restored = out
    lr = low_band_as_image(y, c, levels)
    ref = bicubic_reference(clean, scale)
    fit = (lr - ref).pow(2).sum(dim=(1, 2, 3)).mean()
    rec = (restored - clean).abs().sum(dim=(1, 2, 3)).mean()
    loss = lambda_forward * fit + lambda_backward * rec
    pixels = float(c * h * w)
    parts = {
        "forward_mse": fit.detach() / (pixels / scale**2),
        "backward_l1": rec.detach() / pixels,
    }
    return loss, parts


@torch.no_grad()
def mc_restore(
    net: nn.Module, noisy: torch.Tensor, generator: torch.Generator | None, samples: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Denoise by the Monte Carlo self-ensemble: the mean and spread of K draws.

    One forward pass gives the low-resolution image; each of the ``samples`` draws joins it with
    a fresh z ~ N(0, I) and inverts. Returns ``(mean, std)`` of the restorations, std over the
    draws (population, zero for one draw). Running sums keep memory at two images.
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    c = _channels(net)
    y = _encode(net, noisy)
    lr = y[:, :c]
    shape = tuple(y[:, c:].shape)
    total = torch.zeros_like(noisy)
    total_sq = torch.zeros_like(noisy)
    for _ in range(samples):
        x = _decode(net, torch.cat((lr, _randn(shape, y, generator)), dim=1))
        total += x
        total_sq += x * x
    mean = total / samples
    var = (total_sq / samples - mean * mean).clamp_min(0.0)
    return mean, var.sqrt()


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)


@torch.no_grad()
def generate_noisy_variants(
    net: nn.Module,
    noisy: torch.Tensor,
    generator: torch.Generator | None,
    count: int = 1,
    strength: float = 1.0,
    window: int = 5,
) -> torch.Tensor:
    """New noisy versions of a noisy batch by perturbing its latent (the paper's noise generation).

    The paper generates noise by keeping the low-resolution image and manipulating the noisy
    latent z (which it calls z_HF, the high-frequency part). It does not give the exact rule,
    so ours is stated here: z is split into a local mean m (a ``window``×``window`` box on the
    latent grid) and a residual r = z − m whose local standard deviation s is measured; the
    residual is replaced by ``√(1 − t²)·r + t·s·ε`` with ε ~ N(0, I) and t = ``strength``. The
    local statistics of z are kept (a signal-dependent or spatially varying noise stays so),
    only its realisation changes; t = 0 returns the input, t = 1 a fully new draw.
    Returns ``count`` × N×C×H×W stacked along a new first axis.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must lie in [0, 1]")
    c = _channels(net)
    y = _encode(net, noisy)
    lr, z = y[:, :c], y[:, c:]
    size = max(1, min(window, z.shape[-1], z.shape[-2]) | 1)
    m = _box_mean(z, size)
    r = z - m
    s = (_box_mean(r * r, size) - _box_mean(r, size) ** 2).clamp_min(0.0).sqrt()
    keep = math.sqrt(max(0.0, 1.0 - strength * strength))
    outs = []
    for _ in range(count):
        eps = _randn(tuple(z.shape), z, generator)
        z_new = m + keep * r + strength * s * eps
        outs.append(_decode(net, torch.cat((lr, z_new), dim=1)))
    return torch.stack(outs)


def noise_statistics(noise: np.ndarray) -> dict[str, float]:
    """Standard deviation (0–255 scale) and lag-1 correlations of an H×W×C noise image.

    ``corr_x``/``corr_y`` are the correlation coefficients between horizontally/vertically
    neighbouring noise values (0 for white noise; camera noise after demosaicking is positive),
    ``corr_c`` the mean correlation between colour channels (0 for independent channels).
    """
    n = np.asarray(noise, dtype=np.float64)
    if n.ndim == 2:
        n = n[..., None]
    n = n - n.mean(axis=(0, 1), keepdims=True)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
        return float((a * b).sum()) / den if den > 0 else 0.0

    stats = {
        "std": float(n.std()) * 255.0,
        "corr_x": corr(n[:, :-1], n[:, 1:]),
        "corr_y": corr(n[:-1], n[1:]),
    }
    if n.shape[2] > 1:
        pairs = [(i, j) for i in range(n.shape[2]) for j in range(i + 1, n.shape[2])]
        stats["corr_c"] = float(np.mean([corr(n[..., i], n[..., j]) for i, j in pairs]))
    return stats


# --------------------------------------------------------------------------------------------
# The contract with training and inference
# --------------------------------------------------------------------------------------------


class InvDNSpec(NetworkSpec):
    """How to build, train and run InvDN (see :mod:`denoise_studio.core.network`)."""

    method_id = "invdn"
    configs = ("lite", "paper")
    size_requirements = SizeRequirements(multiple_of=4, minimum=8)

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        return InvDNNet(channels, CONFIGS[config])

    def recipe(self, config: str) -> TrainRecipe:
        self.check_config(config)
        if config == "paper":
            return TrainRecipe(
                supervision=SUPERVISED,
                patch_size=144,
                batch_size=28,
                steps=600_000,
                learning_rate=2e-4,
                betas=(0.9, 0.999),
                weight_decay=1e-8,
                schedule="multistep",
                milestones=(1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6),
                gamma=0.5,
                grad_clip=10.0,
                noise="gaussian",
                sigma=(5.0, 55.0),
                validate_every=5000,
                source="Liu et al. 2021, implementation details; official train_InvDN.yml (Adam 2e-4, β 0.9/0.999, "
                "weight decay 1e-8, 600k iterations halved every 100k, batch 28 of 144² patches, "
                "gradient norm clipped at 10). The paper trains on SIDD real noise; here blind "
                "Gaussian σ 5–55 unless the command says otherwise.",
            )
        return TrainRecipe(
            supervision=SUPERVISED,
            patch_size=64,
            batch_size=8,
            steps=20_000,
            learning_rate=5e-4,
            betas=(0.9, 0.999),
            weight_decay=1e-8,
            schedule="multistep",
            milestones=(0.5, 0.75),
            gamma=0.5,
            grad_clip=10.0,
            noise="gaussian",
            sigma=(5.0, 55.0),
            validate_every=250,
            source="The paper's recipe shrunk for a CPU: 64² patches, batch 8, a higher rate "
            "(5e-4) because a CPU run lasts minutes, not 600k steps; same optimiser, weight "
            "decay, gradient clipping and halving schedule.",
        )

    def training_loss(
        self,
        net: nn.Module,
        noisy: torch.Tensor,
        clean: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if clean is None:
            raise ValueError("InvDN is trained with clean targets (supervised)")
        return invdn_loss(net, noisy, clean, generator)

    def denoise(self, net: nn.Module, noisy: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One latent draw (the validation path); the method adds the ensembles."""
        mean, _ = mc_restore(net, noisy, generator, samples=1)
        return mean


NETWORK = InvDNSpec()


def parameter_count(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------------

DENOISE = "denoise"
GENERATE = "generate noise"


@dataclass(frozen=True)
class InvDNParams(NetworkParams):
    """InvDN's parameters beside the weights, ×8 ensemble and tiling of every network method."""

    samples: int = param(
        4,
        minimum=1,
        maximum=64,
        title="Latent samples",
        description="Monte Carlo self-ensemble: average the restorations from this many latent draws "
        "(the paper uses 16); their spread is the uncertainty map",
    )
    mode: str = param(
        DENOISE,
        choices=(DENOISE, GENERATE),
        title="Mode",
        description="denoise, or make a new noisy version of the image by redrawing the noise in its latent",
    )
    strength: float = param(
        1.0,
        minimum=0.0,
        maximum=1.0,
        step=0.05,
        title="Noise redraw",
        description="generate-noise mode: 0 returns the input, 1 draws a completely new noise realisation",
        advanced=True,
    )
    keep_colour: bool = keep_colour_param(ANCHOR_SIGMA, robust=False)


class InvDN(NetworkMethod[InvDNParams]):
    """InvDN (Liu et al., CVPR 2021): denoising by replacing the noisy latent of an invertible network.

    One forward pass splits the image into a clean low-resolution image and a latent ``z``; each
    of the ``samples`` passes inverts the network from that image and a fresh z ~ N(0, I)
    (the paper's Monte Carlo self-ensemble); the mean is the result and the per-pixel spread the uncertainty map. The
    forward pass is computed once per tile and orientation and reused by the draws. In
    ``generate noise`` mode the result is a new noisy image (:func:`generate_noisy_variants`).
    """

    id = "invdn"
    title = "InvDN"
    family = "Supervised"
    Params = InvDNParams
    size_requirements = NETWORK.size_requirements
    description = "Invertible denoising network: a clean ×4 smaller image plus a resampled latent, inverted (CVPR 2021)"

    def __init__(self) -> None:
        super().__init__()
        # Encodings of the current tile (one per orientation of the ×8 ensemble), so that the K
        # latent draws share one forward pass.
        self._encodings: list[tuple[torch.Tensor, torch.Tensor]] = []

    def ensemble_passes(self, params: InvDNParams) -> int:
        return params.samples if params.mode == DENOISE else 1

    def _encode_cached(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        for seen, encoded in self._encodings:
            if seen.shape == x.shape and torch.equal(seen, x):
                return encoded
        encoded = _encode(net, x)
        if len(self._encodings) >= 8:
            self._encodings.pop(0)
        self._encodings.append((x.clone(), encoded))
        return encoded

    def forward(self, net: nn.Module, x: torch.Tensor, params: InvDNParams, generator: torch.Generator | None) -> torch.Tensor:
        if params.mode == GENERATE:
            return generate_noisy_variants(net, x, generator, count=1, strength=params.strength)[0]
        c = _channels(net)
        y = self._encode_cached(net, x)
        z = _randn(tuple(y[:, c:].shape), y, generator)
        return _decode(net, torch.cat((y[:, :c], z), dim=1))

    def finish(self, noisy: np.ndarray, image: np.ndarray, extras: dict[str, np.ndarray], params: InvDNParams,
               info: dict[str, Any]) -> np.ndarray:
        """A denoised result keeps the input's slow variations (module docstring), not where
        clipping biased the noise (near black and white)."""
        if params.mode == DENOISE and params.keep_colour:
            return anchor_low_frequencies(noisy, image, ANCHOR_SIGMA, clip_guard=CLIP_GUARD)
        return image

    def run(self, noisy: np.ndarray, params: InvDNParams, ctx: RunContext) -> Iterator[Snapshot]:
        if params.mode == GENERATE and params.self_ensemble:
            # Averaging eight noise draws would shrink the noise: generation uses one orientation.
            params = params.replace(self_ensemble=False)
        self._encodings.clear()
        try:
            yield from super().run(noisy, params, ctx)
        finally:
            self._encodings.clear()
