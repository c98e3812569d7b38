"""LG-BPN: local and global blind-patch network.

Wang, Fu, Liu and Zhang, "LG-BPN: Local and Global Blind-Patch Network for Self-Supervised
Real-World Denoising", CVPR 2023.

AP-BSN (``methods/ap_bsn.py``) breaks the spatial correlation of real noise by pixel-shuffling
the image with a large stride, which also throws away the fine texture around each pixel.
LG-BPN instead hides a whole *patch* around each pixel — a diamond of radius 4, where the
measured noise correlation of sRGB camera noise is high (Sec. 3.2) — and looks at the dense
ring of neighbours just outside it, whose noise is nearly independent:

* **DSPMC**, the densely-sampled patch-masked convolution (Sec. 3.2): a 9×9 kernel whose
  central diamond ``|dy| + |dx| ≤ 4`` is zero (local branch), and a 21×21 kernel sampled on
  every second row and column with the same diamond removed (global branch). The 21×21
  lattice kernel is computed here as the equivalent 11×11 convolution with dilation 2, whose
  masked centre is the diamond ``|u| + |v| ≤ 2``: the same taps, a quarter of the work.
* Each branch then works on pixel-shuffled sub-images (PD inside the branch, as in the official
  code), with the asymmetric strides of AP-BSN: 5 while training; 3 (local) and 4 (global) at
  inference; 2 and 4 in the R3 refinement passes (official SIDD defaults).
* **Local branch** (Sec. 3.2): dilated residual convolutions (dilation 2) as in AP-BSN.
* **Global branch** (Sec. 3.3): dilated transformer blocks (DTB): channel-wise self-attention
  (Restormer's transposed attention, Zamir et al. CVPR 2022) and a gated feed-forward with
  dilated depth-wise convolutions (dilation 3).

Why the blind patch stays blind, and where this implementation deviates
------------------------------------------------------------------------
After PD with stride f, a dilation d in a sub-image is a step of f·d pixels in the image. A
DSPMC tap reaches at most r = 4 (local) or 10 (global) pixels from the centre, so an output
can reach the diamond ``|·|₁ ≤ 4`` again only if f·d − r ≤ 4: training at f = 5 gives 10 (local)
and 15 (global) and the whole diamond is provably blind. (The official code trains the local
branch at f = 4, which leaves the diamond's four tips visible; we train it at 5.) The
sub-images are processed as separate images (:func:`to_subimages`) rather than the official
mosaic with a 2-pixel gap, because a deep stack of dilated convolutions reaches across such a
gap into other sub-images, whose pixels are the blind patch's neighbours in the image.

Channel attention pools over *all* positions, including the blind patch, so a plain MDTA
leaks it (weakly, but it is no longer blind). Here the global branch is split into a top and a
bottom half that are processed separately; the C×C attention map of each half is computed from
the branch input (the DSPMC features) of the *other* half, beyond a guard band wider than the
DSPMC's reach. The attention therefore conditions every pixel on distant image content, as in
the paper, while the output stays exactly independent of the blind patch. The official test
time trick of deformable, ratio-dilated DSPMC sampling is not implemented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from denoise_studio.core.network import SELF_SUPERVISED, NetworkSpec, TrainRecipe
from denoise_studio.core.tiling import SizeRequirements
from denoise_studio.methods._common.blind_spot import BlindSpotMethod, DilatedResidual, R3Params, r3_ensemble, sidd_paper_recipe
from denoise_studio.methods._common.pixel_shuffle import from_subimages, to_subimages

__all__ = ["LGBPN", "LGBPNParams", "LGBPNNet", "LGBPNSpec", "DSPMC", "NETWORK", "BLIND_RADIUS"]

# The blind patch: the diamond |dy| + |dx| <= BLIND_RADIUS around each pixel (Sec. 3.2).
BLIND_RADIUS = 4
MODES = ("train", "test", "refine")


# ------------------------------------------------------------------------------------ blocks


class DSPMC(nn.Conv2d):
    """Densely-sampled patch-masked convolution (Sec. 3.2, Fig. 3).

    ``DSPMC(c_in, c_out, 9)``: a 9×9 kernel with the diamond ``|dy| + |dx| ≤ 4`` masked.
    ``DSPMC(c_in, c_out, 21)``: a 21×21 kernel sampled every 2 pixels with the same diamond
    masked, computed as an 11×11 kernel with dilation 2 (taps at even offsets only).
    The mask multiplies the weight in every pass, so masked taps have exactly no effect.
    Zero padding: reflection would bring masked pixels back in at the border.
    """

    def __init__(self, in_channels: int, out_channels: int, span: int) -> None:
        if span == 9:
            size, dilation = 9, 1
        elif span == 21:
            size, dilation = 11, 2
        else:
            raise ValueError("DSPMC spans 9 or 21 pixels")
        super().__init__(in_channels, out_channels, size, padding=dilation * (size // 2), dilation=dilation)
        self.span = span
        offsets = (torch.arange(size) - size // 2) * dilation
        distance = offsets.abs()[:, None] + offsets.abs()[None, :]
        mask = (distance > BLIND_RADIUS).to(torch.float32)[None, None]
        self.mask: torch.Tensor
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    @property
    def reach(self) -> int:
        """The farthest (Chebyshev) distance a tap reaches, in pixels."""
        return self.span // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding, self.dilation, self.groups)


class BiasFreeLayerNorm(nn.Module):
    """Layer norm over channels at each pixel, scale only (Restormer's 'BiasFree' variant)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(dim=1, keepdim=True, unbiased=False)
        return x / torch.sqrt(var + 1e-5) * self.weight[None, :, None, None]


def _depthwise(channels: int, dilation: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=channels, bias=False)


class GatedFeedForward(nn.Module):
    """Gated-Dconv feed-forward (Restormer's GDFN) with a dilated depth-wise convolution."""

    def __init__(self, channels: int, expansion: float, dilation: int) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = nn.Conv2d(channels, 2 * hidden, 1, bias=False)
        self.dwconv = _depthwise(2 * hidden, dilation)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class ContextChannelAttention(nn.Module):
    """Channel-wise (transposed) multi-head attention whose C×C map comes from a context.

    Restormer's MDTA computes ``softmax(τ · Q̂ K̂ᵀ)`` with Q, K ∈ R^{C×N} L2-normalised over the
    N positions and applies it to V. Here Q and K are projections of ``context`` (positions
    the output must be allowed to see) and V of the features themselves (with a dilated
    depth-wise convolution, as in the DTB). An empty context gives a uniform map.
    """

    def __init__(self, channels: int, context_channels: int, heads: int, dilation: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError("channels must be divisible by heads")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.context_norm = BiasFreeLayerNorm(context_channels)
        self.qk = nn.Conv2d(context_channels, 2 * channels, 1, bias=False)
        self.v = nn.Conv2d(channels, channels, 1, bias=False)
        self.v_dwconv = _depthwise(channels, dilation)
        self.project_out = nn.Conv2d(channels, channels, 1, bias=False)

    def attention_map(self, context: torch.Tensor, groups: int) -> torch.Tensor:
        """(N, heads, c, c) maps from a context of N·groups sub-images (c = channels / heads)."""
        nf, h, w = context.shape[0], context.shape[-2], context.shape[-1]
        n, c = nf // groups, self.qk.out_channels // 2
        if h * w == 0:
            # Nothing far enough away to look at (a tiny image): mix the channels evenly.
            per_head = c // self.heads
            return context.new_full((n, self.heads, per_head, per_head), 1.0 / per_head)
        q, k = self.qk(self.context_norm(context)).chunk(2, dim=1)

        def flat(t: torch.Tensor) -> torch.Tensor:
            t = t.reshape(n, groups, self.heads, c // self.heads, h * w).permute(0, 2, 3, 1, 4)
            return F.normalize(t.reshape(n, self.heads, c // self.heads, groups * h * w), dim=-1)

        return (flat(q) @ flat(k).transpose(-2, -1) * self.temperature).softmax(dim=-1)

    def forward(self, x: torch.Tensor, attn: torch.Tensor, groups: int) -> torch.Tensor:
        v = self.v_dwconv(self.v(x))
        nf, c, h, w = v.shape
        n = nf // groups
        v = v.reshape(n, groups, self.heads, c // self.heads, h * w)
        out = torch.einsum("nhij,nghjp->nghip", attn, v).reshape(nf, c, h, w)
        return self.project_out(out)


class DilatedTransformerBlock(nn.Module):
    """DTB (Sec. 3.3): x + Attn(LN(x)); x + GDFN(LN(x)), both with dilation 3 convolutions."""

    def __init__(self, channels: int, context_channels: int, heads: int, expansion: float, dilation: int) -> None:
        super().__init__()
        self.norm1 = BiasFreeLayerNorm(channels)
        self.attn = ContextChannelAttention(channels, context_channels, heads, dilation)
        self.norm2 = BiasFreeLayerNorm(channels)
        self.ffn = GatedFeedForward(channels, expansion, dilation)

    def forward(self, x: torch.Tensor, attn: torch.Tensor, groups: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), attn, groups)
        return x + self.ffn(self.norm2(x))


@dataclass(frozen=True)
class LGBPNConfig:
    """Architecture and PD strides of one configuration."""

    head: int  # channels of the 1×1 head (official 24)
    base: int  # channels of both branches (official 128)
    local_modules: int  # dilated residual modules of the local branch (official 9)
    global_blocks: int  # DTBs of the global branch (official 6)
    heads: int = 2
    expansion: float = 2.66
    pd_train: tuple[int, int] = (5, 5)  # (local, global); official (4, 5), see the module doc
    pd_test: tuple[int, int] = (3, 4)
    pd_refine: tuple[int, int] = (2, 4)
    pd_pad: int = 2  # reflection border of the R3 passes (official)
    r3_passes: int = 8
    r3_probability: float = 0.16


CONFIGS: dict[str, LGBPNConfig] = {
    "paper": LGBPNConfig(head=24, base=128, local_modules=9, global_blocks=6),
    "lite": LGBPNConfig(head=16, base=32, local_modules=3, global_blocks=2, expansion=2.0),
}


class LocalBranch(nn.Module):
    """DSPMC 9×9, then PD and dilated residual convolutions (dilation 2) per sub-image."""

    def __init__(self, head: int, base: int, modules: int) -> None:
        super().__init__()
        self.dspmc = DSPMC(head, base, 9)
        layers: list[nn.Module] = [
            nn.ReLU(inplace=True),
            nn.Conv2d(base, base, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(base, base, 1),
            nn.ReLU(inplace=True),
        ]
        layers += [DilatedResidual(base, 2) for _ in range(modules)]
        layers += [nn.Conv2d(base, base, 1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        return from_subimages(self.body(to_subimages(self.dspmc(x), stride)), stride)


class GlobalBranch(nn.Module):
    """DSPMC 21×21 (sampled every 2 px), then PD and dilated transformer blocks per sub-image.

    The sub-images are cut into a top and a bottom half, processed separately; each half's
    attention maps come from the DSPMC features of the other half beyond :meth:`guard` rows.
    """

    dilation = 3

    def __init__(self, head: int, base: int, blocks: int, heads: int, expansion: float) -> None:
        super().__init__()
        self.dspmc = DSPMC(head, base, 21)
        self.blocks = nn.ModuleList(DilatedTransformerBlock(base, base, heads, expansion, self.dilation) for _ in range(blocks))
        self.output = nn.Conv2d(base, base, 3, padding=self.dilation, dilation=self.dilation, bias=False)

    def guard(self, stride: int) -> int:
        """Rows (of a sub-image) between a half and the context it may use.

        A context row i holds DSPMC features of image rows ≥ f·i, which saw image rows
        ≥ f·i − reach; the blind patch of a pixel in the other half reaches BLIND_RADIUS past
        the split. f·guard ≥ reach + BLIND_RADIUS keeps them apart.
        """
        return math.ceil((self.dspmc.reach + BLIND_RADIUS) / stride)

    def forward(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        feats = to_subimages(self.dspmc(x), stride)
        groups = stride * stride
        h = feats.shape[-2]
        split, guard = h // 2, self.guard(stride)
        halves = []
        for rows, context_rows in ((slice(0, split), slice(split + guard, h)), (slice(split, h), slice(0, max(split - guard, 0)))):
            part = feats[..., rows, :]
            if part.shape[-2] == 0:
                continue
            context = feats[..., context_rows, :]
            for block in self.blocks:
                assert isinstance(block, DilatedTransformerBlock)
                attn = block.attn.attention_map(context, groups)
                part = block(part, attn, groups)
            halves.append(self.output(part))
        return from_subimages(torch.cat(halves, dim=-2), stride)


class LGBPNNet(nn.Module):
    """The whole network: 1×1 head, local and global branches, 1×1 tail.

    ``forward(x, mode)`` with ``mode`` in ``train`` (default), ``test`` or ``refine`` picks the
    branches' PD strides; sizes are zero-padded at the bottom and right to a multiple of both
    strides and cropped back.
    """

    def __init__(self, config: LGBPNConfig, channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.head = nn.Sequential(nn.Conv2d(channels, config.head, 1), nn.ReLU(inplace=True))
        self.local_branch = LocalBranch(config.head, config.base, config.local_modules)
        self.global_branch = GlobalBranch(config.head, config.base, config.global_blocks, config.heads, config.expansion)
        b = config.base
        self.tail = nn.Sequential(
            nn.Conv2d(2 * b, b, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(b, b // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(b // 2, b // 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(b // 2, channels, 1),
        )

    def strides(self, mode: str) -> tuple[int, int]:
        if mode == "train":
            return self.config.pd_train
        if mode == "test":
            return self.config.pd_test
        if mode == "refine":
            return self.config.pd_refine
        raise ValueError(f"mode must be one of {', '.join(MODES)}")

    def forward(self, x: torch.Tensor, mode: str = "train") -> torch.Tensor:
        f_local, f_global = self.strides(mode)
        multiple = math.lcm(f_local, f_global)
        h, w = x.shape[-2:]
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        feats = self.head(x)
        out = self.tail(torch.cat([self.local_branch(feats, f_local), self.global_branch(feats, f_global)], dim=1))
        return out[..., :h, :w]

    def refine(self, x: torch.Tensor) -> torch.Tensor:
        """The network with the refinement strides (what R3 runs)."""
        return self(x, "refine")


def r3_denoise(
    net: LGBPNNet, noisy: torch.Tensor, generator: torch.Generator | None, passes: int, probability: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-stride inference followed by ``passes`` R3 passes: (mean, standard deviation)."""
    return r3_ensemble(net, net(noisy, "test"), noisy, generator, passes, probability)


# ------------------------------------------------------------------------------------ spec


class LGBPNSpec(NetworkSpec):
    """How to build, train (self-supervised) and run LG-BPN."""

    method_id: ClassVar[str] = "lg_bpn"
    size_requirements: ClassVar[SizeRequirements] = SizeRequirements(multiple_of=1, minimum=8)

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        return LGBPNNet(CONFIGS[config], channels)

    def recipe(self, config: str) -> TrainRecipe:
        self.check_config(config)
        if config == "paper":
            return sidd_paper_recipe(
                
                    "LG-BPN paper Sec. 4.1 and official conf/APBSN_SIDD/BSN_SIDD.yaml: 120×120 crops, "
                    "flips and rotations, batch 8, Adam(0.9, 0.999) at 1e-4 ×0.1 every 8 of 20 epochs, "
                    "self-supervised L1; here the camera noise model stands in for SIDD"
                
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
            grad_clip=1.0,
            noise="camera",
            sigma=(5.0, 15.0),
            validate_every=500,
            source=(
                "CPU budget: the paper's 120×120 crops (24×24 sub-images at stride 5, so the attention's "
                "context half is 9 rows deep) but batch 2, a higher rate with cosine decay, gradient clipping"
            ),
        )

    def training_loss(
        self,
        net: nn.Module,
        noisy: torch.Tensor,
        clean: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Self-supervised L1 between the blind-patch output and the noisy input; ``clean`` unused."""
        out = net(noisy, "train")
        loss = F.l1_loss(out, noisy)
        return loss, {"l1": loss.detach()}

    def denoise(self, net: nn.Module, noisy: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test-stride inference and R3 with the configuration's T and p."""
        assert isinstance(net, LGBPNNet)
        return r3_denoise(net, noisy, generator, net.config.r3_passes, net.config.r3_probability)[0]


NETWORK = LGBPNSpec()


# ------------------------------------------------------------------------------------ method


@dataclass(frozen=True)
class LGBPNParams(R3Params):
    """Inference settings of LG-BPN (the defaults are the paper's)."""


class LGBPN(BlindSpotMethod[LGBPNParams]):
    """LG-BPN (Wang et al., CVPR 2023): DSPMC blind patches, dilated transformer blocks, R3.

    Trained on noisy images alone. With R3 on, the result is the mean of T refinement passes
    and ``maps["uncertainty"]`` their per-pixel standard deviation.
    """

    id = "lg_bpn"
    title = "LG-BPN"
    family = "Self-supervised"
    Params = LGBPNParams
    description = "Self-supervised blind-patch network (local DSPMC + global transformer) for real, correlated noise."

    def first_pass(self, net: nn.Module, x: torch.Tensor, params: LGBPNParams) -> torch.Tensor:
        assert isinstance(net, LGBPNNet)
        return net(x, "test")
