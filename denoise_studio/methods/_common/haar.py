"""Orthonormal 2-D Haar wavelet downsampling and its exact inverse.

One level maps a batch N×C×H×W to N×4C×H/2×W/2. Each 2×2 block ``[[a, b], [c, d]]`` of a channel
becomes four coefficients (Mallat 1989; the "wavelet transformation" layer of InvDN, Liu et al.
2021, the downscale block)::

    LL = (a + b + c + d) / 2      low band: twice the block mean
    LH = (a - b + c - d) / 2      horizontal detail (differences across columns)
    HL = (a + b - c - d) / 2      vertical detail (differences across rows)
    HH = (a - b - c + d) / 2      diagonal detail

The 4×4 matrix of these rows is orthogonal and symmetric, so it is its own inverse and the
transform preserves energy (‖Wx‖ = ‖x‖, Jacobian determinant 1). InvDN's official code scales the
bands by 1/4 instead of 1/2 (the low band is then the block mean and the transform is not
volume-preserving); the orthonormal scale keeps white noise white with the same σ in every band,
which is what the noise generator relies on. Callers that want a mean image read ``LL / 2``
per level (see :func:`low_band_as_image`).

Output channels are band-major: ``[LL of every channel, LH of every channel, HL ..., HH ...]``,
so the first C channels are always the low-pass image, also after several levels.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HaarDownsampling", "haar_forward", "haar_inverse", "haar_matrix", "low_band_as_image"]


def haar_matrix(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The 4×4 analysis matrix: rows LL, LH, HL, HH acting on a block flattened as (a, b, c, d)."""
    return 0.5 * torch.tensor(
        [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]],
        dtype=dtype,
    )


def haar_forward(x: torch.Tensor) -> torch.Tensor:
    """One orthonormal Haar level: N×C×H×W → N×4C×H/2×W/2 (H and W must be even)."""
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"Haar downsampling needs even sides, got {h}×{w}")
    a = x[:, :, 0::2, 0::2]
    b = x[:, :, 0::2, 1::2]
    cc = x[:, :, 1::2, 0::2]
    d = x[:, :, 1::2, 1::2]
    # Two butterflies instead of sixteen multiply-adds: sums and differences along rows, then
    # along columns; the factor 1/2 makes the result orthonormal.
    s_top, d_top = a + b, a - b
    s_bot, d_bot = cc + d, cc - d
    ll = (s_top + s_bot) * 0.5
    lh = (d_top + d_bot) * 0.5
    hl = (s_top - s_bot) * 0.5
    hh = (d_top - d_bot) * 0.5
    return torch.cat((ll, lh, hl, hh), dim=1)


def haar_inverse(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`haar_forward`: N×4C×h×w → N×C×2h×2w."""
    n, c4, h, w = y.shape
    if c4 % 4:
        raise ValueError(f"inverse Haar needs a multiple of 4 channels, got {c4}")
    ll, lh, hl, hh = torch.chunk(y, 4, dim=1)
    # The analysis matrix is symmetric and orthogonal, so synthesis applies the same butterflies.
    s_top, s_bot = ll + hl, ll - hl
    d_top, d_bot = lh + hh, lh - hh
    a = (s_top + d_top) * 0.5
    b = (s_top - d_top) * 0.5
    cc = (s_bot + d_bot) * 0.5
    d = (s_bot - d_bot) * 0.5
    # Interleave the four polyphase components back into 2×2 blocks.
    top = torch.stack((a, b), dim=-1).reshape(n, c4 // 4, h, 2 * w)
    bottom = torch.stack((cc, d), dim=-1).reshape(n, c4 // 4, h, 2 * w)
    return torch.stack((top, bottom), dim=-2).reshape(n, c4 // 4, 2 * h, 2 * w)


def low_band_as_image(y: torch.Tensor, channels: int, levels: int) -> torch.Tensor:
    """The first ``channels`` channels after ``levels`` Haar levels, rescaled to block means.

    Each orthonormal level multiplies the low band by 2 (the sum of four pixels over 2), so
    the ``2**levels``-times-downsampled image is the low band divided by ``2**levels``.
    """
    return y[:, :channels] / float(2**levels)


class HaarDownsampling(nn.Module):
    """One orthonormal Haar level as an invertible module (no parameters).

    ``forward(x)`` analyses, ``forward(y, reverse=True)`` (or :meth:`inverse`) synthesises.
    The log-determinant of the Jacobian is 0 in both directions.
    """

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return haar_inverse(x) if reverse else haar_forward(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The input whose transform is ``y``."""
        return haar_inverse(y)
