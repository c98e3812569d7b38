"""Ensembles at test time, as one mechanism for every network.

Two kinds, which compose:

* the geometric self-ensemble (×8): the network is run on the 8 flips and rotations of its input
  (the dihedral group of the square), each output is transformed back, and the 8 are averaged —
  the "self-ensemble" of Lim et al., EDSR (CVPRW 2017), Sec. 3.4;
* a method's own stochastic ensemble: K passes that differ only in the randomness drawn from one
  seeded :class:`torch.Generator` (InvDN's latent samples, the blind-spot networks' R3 masks,
  masked-training repeats). Their mean is the result and their per-pixel standard deviation an
  uncertainty map.

All functions work on N×C×H×W tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Each transform is (quarter turns k, then flip left-right?) applied as rot90(k) ∘ flip.
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))


def apply_transform(x: torch.Tensor, index: int) -> torch.Tensor:
    """The ``index``-th of the 8 dihedral transforms of the last two axes (0 is the identity)."""
    import torch

    k, flip = TRANSFORMS[index]
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def invert_transform(x: torch.Tensor, index: int) -> torch.Tensor:
    """Undo :func:`apply_transform` with the same ``index``."""
    import torch

    k, flip = TRANSFORMS[index]
    if k:
        x = torch.rot90(x, -k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def self_ensemble_x8(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of ``T⁻¹(fn(T(x)))`` over the 8 flips and rotations ``T``.

    ``fn`` must accept both orientations of the input (a square input, or sizes that satisfy the
    network's requirements after swapping height and width). For a network that is equivariant
    to these transforms the result equals ``fn(x)`` exactly (up to rounding).
    """
    total = None
    for index in range(len(TRANSFORMS)):
        out = invert_transform(fn(apply_transform(x, index)), index)
        total = out if total is None else total + out
    assert total is not None
    return total / len(TRANSFORMS)


class RunningMoments:
    """Welford's running mean and variance of a stream of equally shaped tensors.

    Numerically stable for many passes, and it never keeps more than two tensors.
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    def add(self, value: torch.Tensor) -> None:
        """Include one more sample."""
        value = value.detach().float()
        self.count += 1
        if self._mean is None or self._m2 is None:
            self._mean = value.clone()
            self._m2 = value.new_zeros(value.shape)
            return
        delta = value - self._mean
        self._mean += delta / self.count
        self._m2 += delta * (value - self._mean)

    @property
    def mean(self) -> torch.Tensor:
        if self._mean is None:
            raise ValueError("no samples")
        return self._mean

    def std(self, unbiased: bool = False) -> torch.Tensor:
        """Per-element standard deviation (population by default; zeros for one sample)."""
        if self._m2 is None:
            raise ValueError("no samples")
        denom = self.count - 1 if unbiased else self.count
        if denom <= 0:
            return self._m2.new_zeros(self._m2.shape)
        return (self._m2 / denom).clamp_min(0).sqrt()


def stochastic_ensemble(
    fn: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor],
    x: torch.Tensor,
    passes: int,
    generator: torch.Generator | None,
    geometric: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and per-element standard deviation of ``passes`` runs of ``fn(x, generator)``.

    Every pass draws from the same ``generator``, so a seed reproduces all of them. With
    ``geometric`` each pass is itself a ×8 self-ensemble.
    """
    if passes < 1:
        raise ValueError("passes must be at least 1")
    moments = RunningMoments()
    for _ in range(passes):
        if geometric:
            out = self_ensemble_x8(lambda t: fn(t, generator), x)
        else:
            out = fn(x, generator)
        moments.add(out)
    return moments.mean, moments.std()


def uncertainty_map(std: torch.Tensor) -> torch.Tensor:
    """Collapse a 1×C×H×W standard deviation into an H×W map (the mean over channels)."""
    return std.mean(dim=-3)[0] if std.ndim == 4 else std.mean(dim=0)
