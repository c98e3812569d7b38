"""The Deep Image Prior "skip" encoder–decoder, parametrised for NAS-DIP's search space.

The default :class:`SkipConfig` is the network of the denoising setting of Ulyanov et al.,
"Deep Image Prior" (CVPR 2018, supplementary Sec. "Architectures", and the official denoising
notebook): 5 scales of 128 channels down and up, 4 skip channels per scale, 3×3 convolutions
with stride 2 to go down, bilinear ×2 upsampling to go up, batch norm, LeakyReLU(0.2),
reflection padding, a 1×1 output convolution and a sigmoid.

Per scale *i* (resolution H/2^i, ``x_0`` the input code z)::

    skip_i   = act(bn(conv1x1(x_i)))                          # 4 channels
    x_{i+1}  = act(bn(conv3x3(act(bn(conv3x3_s2(x_i))))))      # down 128
    up_i     = upsample_cell(d_{i+1})  (d_N = x_N at the deepest scale)
    d_i      = act(bn(conv1x1(act(bn(conv3x3(bn([skip_i, up_i])))))))
    output   = sigmoid(conv1x1(d_0))

NAS-DIP (Chen et al., ECCV 2020, Sec. 3.2–3.3) searches two things, both exposed here:

* the **upsampling cell**, split into a *resize* (bilinear, bicubic, nearest, depth-to-space,
  stride-2 transposed convolution) and a *feature transform* (k×k convolution, separable
  convolution, depth-wise convolution, add-N-consecutive-channels followed by a convolution,
  identity), with an optional activation after the cell;
* **cross-scale connections**: in the searched denoising network every decoder level also adds
  the encoder feature one scale coarser (through its own upsampling cell) and the encoder feature
  two scales finer (through two stride-2 conv–BN–act blocks). ``cross_scale=True`` adds exactly
  that pattern, summed into the upsampled path before it meets the skip branch.

Deviations, all deliberate: the cell's convolutions use reflection padding (DIP's choice; NAS-DIP
used zero padding); the decoder keeps DIP's single 3×3 convolution per scale (the NAS-DIP
denoising network has two); skip features are concatenated as in DIP unless ``skip_merge="add"``
(NAS-DIP's choice, with skip branches as wide as the decoder).

The network accepts any input whose sides are multiples of :meth:`SkipNet.multiple_of`
(2^scales); callers pad by reflection with :mod:`denoise_studio.core.tiling` and crop back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

RESIZES = ("bilinear", "bicubic", "nearest", "depth_to_space", "transposed")
TRANSFORMS = ("conv", "separable", "depthwise", "add_channels", "identity")
ACTIVATIONS = ("none", "relu", "leaky_relu")


@dataclass(frozen=True)
class SkipConfig:
    """Everything that defines a skip network; the defaults are DIP's denoising network.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input code z (32 in the paper) and of the image (3 or 1).
    channels_down, channels_up, channels_skip
        Per scale, finest first; all three must have the same length (the number of scales).
    resize, transform, transform_kernel, cell_activation, add_n
        The upsampling cell (see the module docstring); ``add_n`` is N of add-N-consecutive.
    cross_scale
        Add NAS-DIP's cross-scale connections.
    skip_merge
        ``"concat"`` (DIP) or ``"add"`` (NAS-DIP; skip branches then have ``channels_up`` width).
    """

    in_channels: int = 32
    out_channels: int = 3
    channels_down: tuple[int, ...] = (128, 128, 128, 128, 128)
    channels_up: tuple[int, ...] = (128, 128, 128, 128, 128)
    channels_skip: tuple[int, ...] = (4, 4, 4, 4, 4)
    resize: str = "bilinear"
    transform: str = "identity"
    transform_kernel: int = 3
    cell_activation: str = "none"
    add_n: int = 4
    cross_scale: bool = False
    skip_merge: str = "concat"
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        n = len(self.channels_down)
        if n < 1 or len(self.channels_up) != n or len(self.channels_skip) != n:
            raise ValueError("channels_down, channels_up and channels_skip need one entry per scale")
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be one of {RESIZES}, not {self.resize!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, not {self.transform!r}")
        if self.cell_activation not in ACTIVATIONS:
            raise ValueError(f"cell_activation must be one of {ACTIVATIONS}")
        if self.transform_kernel < 1 or self.transform_kernel % 2 == 0:
            raise ValueError("transform_kernel must be odd and positive")
        if self.skip_merge not in ("concat", "add"):
            raise ValueError("skip_merge must be 'concat' or 'add'")
        if self.resize == "depth_to_space" and self.transform == "identity":
            # Depth-to-space divides the channels by 4; only a transform can bring them back.
            raise ValueError("depth-to-space needs a feature transform other than identity")
        for c in (*self.channels_down, *self.channels_up):
            if self.resize == "depth_to_space" and c % 4:
                raise ValueError("depth-to-space needs channel counts divisible by 4")
            if self.transform == "add_channels" and c % (4 * self.add_n if self.resize == "depth_to_space" else self.add_n):
                raise ValueError(f"add_channels needs channel counts divisible by N={self.add_n}")

    @property
    def scales(self) -> int:
        return len(self.channels_down)

    def with_channels(self, width: int, skip: int = 4) -> SkipConfig:
        """The same network with ``width`` channels (down and up) and ``skip`` skip channels."""
        n = self.scales
        return replace(self, channels_down=(width,) * n, channels_up=(width,) * n, channels_skip=(skip,) * n)


def _act(slope: float) -> nn.Module:
    return nn.LeakyReLU(slope, inplace=True)


class ReflectConv(nn.Sequential):
    """A convolution with DIP's reflection padding (the pad is applied outside the conv)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, bias: bool = True, groups: int = 1) -> None:
        pad = (kernel - 1) // 2
        layers: list[nn.Module] = [nn.ReflectionPad2d(pad)] if pad else []
        layers.append(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=0, bias=bias, groups=groups))
        super().__init__(*layers)


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1, slope: float = 0.2) -> nn.Sequential:
    """conv → BN → LeakyReLU, the unit DIP's skip network is built of."""
    return nn.Sequential(ReflectConv(c_in, c_out, kernel, stride), nn.BatchNorm2d(c_out), _act(slope))


class AddConsecutiveChannels(nn.Module):
    """Sum every ``n`` consecutive channels: C → C/n (the bilinear additive upsampling of Wojna et al.)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x.reshape(b, c // self.n, self.n, h, w).sum(dim=2)


class Resize(nn.Module):
    """×2 interpolation (``align_corners=False``, PyTorch's and DIP's default)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=False)


class UpsampleCell(nn.Module):
    """NAS-DIP's upsampling cell: a ×2 resize followed by a feature transform, C_in → C_out.

    With the defaults (bilinear, identity) this is DIP's plain ``nn.Upsample(scale_factor=2)``;
    then ``c_in`` must equal ``c_out``.
    """

    def __init__(self, c_in: int, c_out: int, cfg: SkipConfig) -> None:
        super().__init__()
        k = cfg.transform_kernel
        layers: list[nn.Module] = []
        c = c_in
        if cfg.resize == "depth_to_space":
            layers.append(nn.PixelShuffle(2))
            c = c_in // 4
        elif cfg.resize == "transposed":
            # kernel 4, stride 2, padding 1 doubles the size exactly.
            layers.append(nn.ConvTranspose2d(c_in, c_in, 4, stride=2, padding=1, bias=False))
        else:
            layers.append(Resize(cfg.resize))
        if cfg.transform == "conv":
            layers.append(ReflectConv(c, c_out, k, bias=False))
        elif cfg.transform == "separable":
            layers += [ReflectConv(c, c, k, bias=False, groups=c), nn.Conv2d(c, c_out, 1, bias=False)]
        elif cfg.transform == "depthwise":
            if c_out % c and c % c_out:
                raise ValueError("a depth-wise transform needs one channel count to divide the other")
            layers.append(ReflectConv(c, c_out, k, bias=False, groups=min(c, c_out)))
        elif cfg.transform == "add_channels":
            layers += [AddConsecutiveChannels(cfg.add_n), ReflectConv(c // cfg.add_n, c_out, k, bias=False)]
        elif c != c_out:
            raise ValueError(f"an identity transform cannot map {c} channels to {c_out}")
        if cfg.cell_activation == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif cfg.cell_activation == "leaky_relu":
            layers.append(_act(cfg.negative_slope))
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SkipNet(nn.Module):
    """DIP's skip encoder–decoder (see the module docstring), written as explicit per-scale lists."""

    def __init__(self, cfg: SkipConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or SkipConfig()
        self.cfg = cfg
        n, s = cfg.scales, cfg.negative_slope
        down, up = cfg.channels_down, cfg.channels_up
        ins = (cfg.in_channels, *down[:-1])  # channels of x_i entering scale i
        add = cfg.skip_merge == "add"
        self.skips = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.merge_bn = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.cross_up = nn.ModuleDict()
        self.cross_down = nn.ModuleDict()
        for i in range(n):
            deeper = down[i] if i == n - 1 else up[i + 1]  # channels arriving from below
            skip_c = (deeper if add else cfg.channels_skip[i])
            self.skips.append(conv_bn_act(ins[i], skip_c, 1, slope=s) if skip_c else nn.Identity())
            self.downs.append(nn.Sequential(conv_bn_act(ins[i], down[i], 3, 2, s), conv_bn_act(down[i], down[i], 3, 1, s)))
            self.ups.append(UpsampleCell(deeper, deeper, cfg))
            merged = deeper if add else deeper + (cfg.channels_skip[i] if skip_c else 0)
            self.merge_bn.append(nn.BatchNorm2d(merged))
            self.decoders.append(nn.Sequential(conv_bn_act(merged, up[i], 3, slope=s), conv_bn_act(up[i], up[i], 1, slope=s)))
            if cfg.cross_scale:
                if i < n - 1:  # x_{i+1}, one scale coarser (at i = n-1 it is the main path already)
                    self.cross_up[str(i)] = UpsampleCell(down[i], deeper, cfg)
                if i >= 2:  # the encoder feature two scales finer, brought down twice
                    self.cross_down[str(i)] = nn.Sequential(
                        conv_bn_act(ins[i - 2], deeper, 3, 2, s), conv_bn_act(deeper, deeper, 3, 2, s)
                    )
        self.head = nn.Conv2d(up[0], cfg.out_channels, 1)

    def multiple_of(self) -> int:
        """Input sides must be multiples of this (2 to the number of scales)."""
        return 2**self.cfg.scales

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        n = cfg.scales
        xs = [z]  # x_0 .. x_n (encoder features, finest first)
        for i in range(n):
            xs.append(self.downs[i](xs[i]))
        d = xs[n]
        for i in reversed(range(n)):
            u = self.ups[i](d)  # at the resolution of x_i
            key = str(i)
            if key in self.cross_up:
                u = u + self.cross_up[key](xs[i + 1])
            if key in self.cross_down:
                u = u + self.cross_down[key](xs[i - 2])
            skip = self.skips[i]
            if cfg.skip_merge == "add":
                merged = u + skip(xs[i])
            elif isinstance(skip, nn.Identity):
                merged = u
            else:
                merged = torch.cat([skip(xs[i]), u], dim=1)
            d = self.decoders[i](self.merge_bn[i](merged))
        return torch.sigmoid(self.head(d))


def parameter_count(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
