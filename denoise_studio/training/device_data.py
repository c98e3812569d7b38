"""Training patches cut and degraded on the training device: the accelerator's way.

:class:`DevicePatchSampler` holds every training image once, as 8-bit, on the device; a batch
is one gather of random crops, random flips and transposes (the eight orientations of
``data.dihedral``), and the noise drawn with torch on that device. Nothing crosses to the host
per step. It serves clean sources with the noise models that need no JPEG coder:

* ``gaussian`` (unclipped, as in the published tables), ``poisson-gaussian``;
* ``camera``: the pipeline of :func:`denoise_studio.core.noise.camera` written with tensors
  (gamma, RGGB mosaic, Poisson–Gaussian raw noise, 16-bit raw, bilinear demosaicking, gamma).
  The bilinear demosaicking is the textbook one with reflected borders; it differs from
  OpenCV's at the patch border only, so the noise has the same level and correlation.

A batch is a pure function of ``(seed, step, rank)``, like :class:`~denoise_studio.training.data.PatchSampler`'s,
so a resumed run sees the patches it would have seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from denoise_studio.core.noise import GAMMA
from denoise_studio.training.data import TrainingImages

#: The noise models drawn on the device; other models use the host sampler.
DEVICE_NOISE = ("gaussian", "poisson-gaussian", "camera")


class DevicePatchSampler:
    """Random training patches on ``device``; :meth:`batch` returns tensors N×C×P×P there."""

    def __init__(self, images: TrainingImages, patch_size: int, batch_size: int, seed: int, with_clean: bool, device: str) -> None:
        source = images.source
        if source.noise not in DEVICE_NOISE:
            raise ValueError(f"{source.noise} noise is drawn on the host")
        self.source, self.patch_size, self.batch_size = source, patch_size, batch_size
        self.seed, self.with_clean, self.device = seed, with_clean, torch.device(device)
        # Portrait images are turned to landscape (an orientation the flips draw anyway), so
        # that one padded tensor holds them all.
        turned = [im if im.shape[0] <= im.shape[1] else im.transpose(1, 0, 2) for im in images.train_clean]
        height = max(im.shape[0] for im in turned)
        width = max(im.shape[1] for im in turned)
        channels = turned[0].shape[2]
        stack = torch.zeros((len(turned), height, width, channels), dtype=torch.uint8)
        for i, im in enumerate(turned):
            if im.dtype != "uint8":
                im = (im.clip(0, 1) * 255 + 0.5).astype("uint8")
            stack[i, : im.shape[0], : im.shape[1]] = torch.from_numpy(im)
        self.images = stack.to(self.device)
        self.heights = torch.tensor([im.shape[0] for im in turned], device=self.device)
        self.widths = torch.tensor([im.shape[1] for im in turned], device=self.device)
        self._offsets = torch.arange(patch_size, device=self.device)

    def batch(self, step: int, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Noisy and clean patches (clean withheld for a self-supervised loss)."""
        g = torch.Generator(device=self.device).manual_seed((self.seed * 1_000_003 + step) * 131 + rank)
        clean = self._crops(g)
        sigma = self._sigmas(g)
        noisy = add_noise_on_device(clean, self.source.noise, sigma, g)
        return noisy, (clean if self.with_clean else None)

    def _crops(self, g: torch.Generator) -> torch.Tensor:
        n, p = self.batch_size, self.patch_size
        index = torch.randint(len(self.images), (n,), generator=g, device=self.device)
        y = (torch.rand(n, generator=g, device=self.device) * (self.heights[index] - p + 1)).long()
        x = (torch.rand(n, generator=g, device=self.device) * (self.widths[index] - p + 1)).long()
        rows = (y[:, None] + self._offsets)[:, :, None]
        cols = (x[:, None] + self._offsets)[:, None, :]
        patches = self.images[index[:, None, None], rows, cols]  # N×P×P×C, one gather
        patches = patches.permute(0, 3, 1, 2).float().div_(255.0)
        orientation = torch.randint(8, (n, 1, 1, 1), generator=g, device=self.device)
        patches = torch.where(orientation % 2 == 1, patches.flip(-1), patches)
        patches = torch.where(orientation // 2 % 2 == 1, patches.flip(-2), patches)
        return torch.where(orientation // 4 == 1, patches.transpose(-1, -2), patches).contiguous()

    def _sigmas(self, g: torch.Generator) -> torch.Tensor:
        low, high = self.source.sigma
        u = torch.rand((self.batch_size, 1, 1, 1), generator=g, device=self.device)
        return (low + (high - low) * u) / 255.0


def add_noise_on_device(clean: torch.Tensor, model: str, sigma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``clean`` (N×C×H×W in [0, 1]) with noise of strength ``sigma`` (N×1×1×1, 0–1 scale)."""
    if model == "gaussian":
        return clean + sigma * torch.randn(clean.shape, generator=g, device=clean.device)
    if model == "poisson-gaussian":
        return _poisson_gaussian(clean, sigma, g).clamp_(0.0, 1.0)
    if model == "camera":
        return camera_on_device(clean, sigma, g)
    raise ValueError(f"{model} noise is drawn on the host")


def _poisson_gaussian(x: torch.Tensor, sigma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Variance a·x + b with a·0.5 = b = σ²/2 (Foi et al. 2008), as ``core.noise.poisson_gaussian``."""
    a = sigma.square()
    b = a / 2.0
    signal = torch.poisson(x.clamp(min=0.0) / a, generator=g) * a
    return signal + torch.randn(x.shape, generator=g, device=x.device) * b.sqrt()


def camera_on_device(clean: torch.Tensor, sigma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``core.noise.camera`` without JPEG, on tensors: mosaic, raw noise, bilinear demosaic."""
    grey = clean.shape[1] == 1
    rgb = clean.expand(-1, 3, -1, -1) if grey else clean
    h, w = rgb.shape[-2:]
    linear = F.pad(rgb.clamp(0.0, 1.0).pow(GAMMA), (0, w % 2, 0, h % 2), mode="reflect")
    mask = _bayer_mask(linear.shape[-2], linear.shape[-1], linear.device)  # 1×3×H×W, RGGB
    mosaic = (linear * mask).sum(dim=1, keepdim=True)
    raw = _poisson_gaussian(mosaic, sigma, g).clamp_(0.0, 1.0)
    raw = torch.round(raw * 65535.0) / 65535.0
    demosaicked = _bilinear_demosaic(raw * mask, mask)[..., :h, :w]
    noisy = demosaicked.clamp(0.0, 1.0).pow(1.0 / GAMMA)
    return noisy.mean(dim=1, keepdim=True) if grey else noisy


def _bayer_mask(h: int, w: int, device: torch.device) -> torch.Tensor:
    mask = torch.zeros((1, 3, h, w), device=device)
    mask[:, 0, 0::2, 0::2] = 1.0  # R
    mask[:, 1, 0::2, 1::2] = 1.0  # G
    mask[:, 1, 1::2, 0::2] = 1.0  # G
    mask[:, 2, 1::2, 1::2] = 1.0  # B
    return mask


def _bilinear_demosaic(planes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each missing sample the mean of its nearest same-colour neighbours (normalised convolution)."""
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], device=planes.device).expand(3, 1, 3, 3)
    weights = F.conv2d(F.pad(mask.expand_as(planes), (1, 1, 1, 1), mode="reflect"), kernel, groups=3)
    values = F.conv2d(F.pad(planes, (1, 1, 1, 1), mode="reflect"), kernel, groups=3)
    return torch.where(mask.expand_as(planes) > 0, planes, values / weights)  # known samples stay
