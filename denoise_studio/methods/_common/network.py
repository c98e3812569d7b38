"""The shared base of every trained-network method: weights, device, tiles, ensembles.

A network method module defines its :class:`~denoise_studio.core.network.NetworkSpec` as the
module attribute ``NETWORK`` and a method class deriving from :class:`NetworkMethod`, whose
parameters derive from :class:`NetworkParams`::

    @dataclass(frozen=True)
    class InvDNParams(NetworkParams):
        samples: int = param(1, minimum=1, maximum=32, title="Latent samples")

    class InvDN(NetworkMethod[InvDNParams]):
        id, title, family, Params = "invdn", "InvDN", "Self-supervised", InvDNParams

        def ensemble_passes(self, params: InvDNParams) -> int:   # optional: a stochastic ensemble
            return params.samples

    NETWORK = InvDNSpec()

Everything else is done here: finding the weights (shipped in ``resources/weights`` or trained
by the user; see ``core/weights.py``), choosing the device (CUDA, MPS, CPU; ``ctx.device``
overrides, ``"auto"`` picks), tiled inference with one snapshot per tile and a cancel between
tiles, the ×8 flip-and-rotate self-ensemble (a parameter of every network method), the method's
own stochastic ensemble (K passes with one seeded generator → mean, and the per-pixel standard
deviation in ``snapshot.maps["uncertainty"]``), and the retreat from an out-of-memory error to
tiles of half the side (``core.tiling.iter_tiled_adaptive``), down to ``MIN_TILE``, then from a
GPU to the CPU, with a message; the side used is in ``info["tile_size"]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.device import (
    DeviceError,
    available_memory,
    make_generator,
    release_cached_memory,
    resolve_device,
)
from denoise_studio.core.ensemble import RunningMoments, self_ensemble_x8
from denoise_studio.core.method import Method, MethodError, RunContext, Snapshot
from denoise_studio.core.network import NetworkSpec
from denoise_studio.core.params import Params, param
from denoise_studio.core.tiling import SizeRequirements, TilesTooSmallError, choose_tile_size, iter_tiled_adaptive
from denoise_studio.core.weights import ModelCard, WeightsEntry, WeightsError, find_weights, list_weights, load_network

if TYPE_CHECKING:
    import torch
    from torch import nn

AUTO_WEIGHTS = "auto"
# Out-of-memory errors halve the tiles down to this side; below it a GPU run goes on on the CPU,
# and a CPU run ends with a message.
MIN_TILE = 64
TILE_ADVICE = "Smaller tiles (Tile size) lower the memory."


def tile_size_param() -> Any:
    """The ``tile_size`` field of a tiled method's parameters (0: chosen from the free memory)."""
    return param(
        0,
        minimum=0,
        maximum=8192,
        step=64,
        title="Tile size",
        description="side of the tiles the image is processed in; 0 chooses it from the free memory",
        advanced=True,
    )


def tile_overlap_param(default: int) -> Any:
    """The ``tile_overlap`` field of a tiled method's parameters, ``default`` pixels."""
    return param(
        default,
        minimum=0,
        maximum=512,
        step=8,
        title="Tile overlap",
        description="pixels shared by neighbouring tiles, blended with feathered weights so no seam shows",
        advanced=True,
    )


def tiled_cost(
    shape: tuple[int, ...],
    tile_size: int,
    bytes_per_pixel: float,
    requirements: SizeRequirements,
    device: str,
    *,
    seconds_per_megapixel: float | None,
    passes: int,
    extra_bytes: int = 0,
) -> CostEstimate:
    """The cost of a tiled inference: a few copies of the image, one tile's working memory,
    ``extra_bytes`` (the weights) and a fixed overhead; CPU seconds when the rate is known.

    ``tile_size`` 0 is chosen from the free memory, as a run would.
    """
    pixels = int(shape[0]) * int(shape[1])
    channels = int(shape[2]) if len(shape) > 2 else 1
    tile = tile_size or choose_tile_size(bytes_per_pixel, available_memory(device), requirements)
    memory = pixels * channels * 4 * 6 + min(pixels, tile * tile) * bytes_per_pixel + extra_bytes + 300 * 2**20
    rate = seconds_per_megapixel
    seconds = rate * passes * pixels / 1e6 if rate is not None and device == "cpu" else None
    return CostEstimate(int(memory), seconds, tiled=True, advice=TILE_ADVICE)


def shrink_reporter(device: str, messages: list[str]) -> Callable[[int, int], None]:
    """The ``on_shrink`` callback of ``iter_tiled_adaptive``: frees the device's cached memory
    and appends a message saying the tiles were halved."""

    def shrink(old: int, new: int) -> None:
        release_cached_memory(device)
        messages.append(f"{device} ran out of memory with {old or 'whole-image'}-px tiles: going on with {new}-px tiles")

    return shrink


def widest_layer(net: Any, channels: int) -> int:
    """The most channels or features any layer of ``net`` outputs (for the memory estimate)."""
    width = channels
    for module in net.modules():
        for attr in ("out_channels", "out_features"):
            value = getattr(module, attr, None)
            if isinstance(value, int):
                width = max(width, value)
    return width


@dataclass(frozen=True)
class NetworkParams(Params):
    """Parameters every network method has; a method's own Params derive from this class."""

    weights: str = param(
        AUTO_WEIGHTS,
        title="Weights",
        description="which trained weights to use: 'auto' (the first available: shipped, then your own), a name from the list, or a .safetensors path",
    )
    self_ensemble: bool = param(
        False,
        title="×8 self-ensemble",
        description="average the results on the 8 flips and rotations of the image (8× slower, usually a little better)",
    )
    tile_size: int = tile_size_param()
    # 48 px: the feathering ignores the outer 12 px of every tile edge, which covers the
    # receptive field of the lite convolutional networks exactly; wider ones blend smoothly.
    tile_overlap: int = tile_overlap_param(48)

NP = TypeVar("NP", bound=NetworkParams)


class NetworkMethod(Method[NP]):
    """Inference for a trained network; subclasses only name themselves and their Params.

    Hooks a subclass may override: :meth:`ensemble_passes` (the number K of stochastic passes,
    default 1), :meth:`forward` (one pass on a padded tile; the default calls
    ``NETWORK.denoise``), and :meth:`tile_extras` with :meth:`finish` (further per-tile outputs,
    blended like the image, and what the whole image does with them at the end).
    """

    family: ClassVar[str] = "Supervised"
    Params: ClassVar[type[Params]] = NetworkParams
    # The module attribute that holds the spec; a module defining two methods (FormResNet and
    # DiffResNet) gives the second one another name.
    network_attr: ClassVar[str] = "NETWORK"

    def __init__(self) -> None:
        self._random: tuple[int, str] | None = None
        self._cache: tuple[tuple[Any, ...], nn.Module, ModelCard | None] | None = None
        # Declared by the spec; the instance attribute shadows Method's default.
        self.size_requirements = self.spec().size_requirements  # type: ignore[misc]

    # ---------------------------------------------------------------------------------- weights

    @classmethod
    def spec(cls) -> NetworkSpec:
        """The ``NETWORK`` spec of the module that defines this method (see ``network_attr``)."""
        spec = getattr(sys.modules[cls.__module__], cls.network_attr, None)
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"{cls.__module__} must define {cls.network_attr} = <a NetworkSpec instance>")
        if spec.method_id != cls.id:
            raise TypeError(f"{cls.__module__}.{cls.network_attr} is the spec of {spec.method_id!r}, not {cls.id!r}")
        return spec

    @classmethod
    def available_weights(cls) -> list[WeightsEntry]:
        """The weights on disk for this method (shipped first, then the user's), with cards."""
        return list_weights(cls.id)

    def use_random_weights(self, seed: int = 0, config: str = "lite") -> None:
        """Run with a randomly initialised network (for tests and structure checks only).

        This is not offered to users: the output of an untrained network is meaningless. It
        overrides the ``weights`` parameter until the method object is discarded.
        """
        self.spec().check_config(config)
        self._random = (int(seed), config)
        self._cache = None

    def availability(self) -> str | None:
        if self._random is not None or self.available_weights():
            return None
        return (
            f"no trained weights for {self.id}: train some with "
            f"`denoise-studio train {self.id} --clean DIR --config lite --minutes N`"
        )

    def resolve_weights(self, params: NP) -> WeightsEntry:
        """The weights entry the ``weights`` parameter names (``auto``: the first available)."""
        if params.weights == AUTO_WEIGHTS:
            entries = self.available_weights()
            if not entries:
                raise WeightsError(self.availability() or f"no weights for {self.id}")
            return entries[0]
        return find_weights(self.id, params.weights)

    def _cache_name(self) -> str:
        if self._cache is None:
            return ""
        key = self._cache[0]
        return f"random (seed {key[1]}, {key[2]})" if key[0] == "random" else Path(key[1]).stem

    def load_network(self, params: NP, device: str, channels: int) -> tuple[nn.Module, ModelCard | None]:
        """The network on ``device`` in eval mode, and its card (``None`` for random weights)."""
        import torch

        if self._random is not None:
            seed, config = self._random
            key: tuple[Any, ...] = ("random", seed, config, channels, device)
        else:
            entry = self.resolve_weights(params)
            key = ("file", str(entry.path), entry.path.stat().st_mtime_ns, device)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        self._cache = None
        if self._random is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = self.spec().build(config, channels)
            net, card = net.to(device).eval(), None
        else:
            net, card = load_network(entry.path, self.spec(), device=device)
        self._cache = (key, net, card)
        return net, card

    # ---------------------------------------------------------------------------------- hooks

    def ensemble_passes(self, params: NP) -> int:
        """How many stochastic passes to average (1 for a deterministic network)."""
        return 1

    def forward(self, net: nn.Module, x: torch.Tensor, params: NP, generator: torch.Generator | None) -> torch.Tensor:
        """One pass on a 1×C×H×W tile that satisfies the size requirements."""
        return self.spec().denoise(net, x, generator)

    def tile_extras(self, net: nn.Module, x: torch.Tensor, params: NP) -> dict[str, torch.Tensor]:
        """Further outputs of a tile (named 1×C×H×W tensors) that :meth:`finish` needs."""
        return {}

    def finish(self, noisy: np.ndarray, image: np.ndarray, extras: dict[str, np.ndarray], params: NP,
               info: dict[str, Any]) -> np.ndarray:
        """The final image from the blended ``image`` and ``extras`` (whole-image H×W×C maps)."""
        return image

    def bytes_per_pixel(self, net: nn.Module, channels: int) -> float:
        """Peak inference memory per input pixel, for choosing the tile size.

        The spec may declare ``inference_bytes_per_pixel``; otherwise it is estimated as eight
        float32 feature maps of the widest layer (inputs, outputs and a residual or two alive at
        once), which errs on the safe side for convolutional networks.
        """
        declared = getattr(self.spec(), "inference_bytes_per_pixel", None)
        if declared:
            return float(declared)
        return 8.0 * 4.0 * widest_layer(net, channels)

    def estimate_cost(self, shape: tuple[int, ...], params: NP, device: str = "cpu") -> CostEstimate:
        """Tiled, so the memory is a few copies of the image plus one tile's working memory."""
        spec = self.spec()
        per_pixel = float(getattr(spec, "inference_bytes_per_pixel", None) or 8.0 * 4.0 * 64)
        passes = (8 if params.self_ensemble else 1) * self.ensemble_passes(params)
        return tiled_cost(shape, params.tile_size, per_pixel, self.size_requirements, device,
                          seconds_per_megapixel=getattr(spec, "seconds_per_megapixel", None), passes=passes)

    # ---------------------------------------------------------------------------------- run

    def run(self, noisy: np.ndarray, params: NP, ctx: RunContext) -> Iterator[Snapshot]:
        try:
            device = resolve_device(ctx.device)
        except DeviceError as exc:
            raise MethodError(str(exc)) from None
        net, card = self.load_network(params, device, noisy.shape[2])
        net_channels = card.channels if card is not None else noisy.shape[2]
        tile = params.tile_size or self._auto_tile(net, net_channels, device)
        messages: list[str] = []
        while True:
            try:
                yield from self._run_tiles(net, card, noisy, params, ctx, device, tile, messages)
                return
            except TilesTooSmallError as exc:
                if device == "cpu":
                    raise MethodError(f"{self.title}: out of memory on the CPU even with tiles of {exc.tile_size} px; "
                                      "close other programs or run on a region") from None
                release_cached_memory(device)
                messages.append(f"{device} ran out of memory even with {exc.tile_size}-px tiles: running on the CPU")
                device = "cpu"
                net, card = self.load_network(params, device, noisy.shape[2])
                tile = params.tile_size or self._auto_tile(net, net_channels, device)
                yield Snapshot(0, 1, message=messages[-1])

    def _auto_tile(self, net: nn.Module, channels: int, device: str) -> int:
        return choose_tile_size(self.bytes_per_pixel(net, channels), available_memory(device), self.size_requirements)

    def _run_tiles(
        self,
        net: nn.Module,
        card: ModelCard | None,
        noisy: np.ndarray,
        params: NP,
        ctx: RunContext,
        device: str,
        tile: int,
        messages: list[str],
    ) -> Iterator[Snapshot]:
        import torch

        passes = self.ensemble_passes(params)
        if passes < 1:
            raise MethodError(f"{self.id}: the number of ensemble passes must be at least 1")
        generator = make_generator(device, ctx.seed)
        net_channels = card.channels if card is not None else noisy.shape[2]

        def one_pass(x: torch.Tensor) -> torch.Tensor:
            return self.forward(net, x, params, generator)

        def process(tile_pixels: np.ndarray) -> dict[str, np.ndarray]:
            x = _to_network(to_batch(tile_pixels, device), net_channels)
            moments = RunningMoments()
            with torch.no_grad():
                for _ in range(passes):
                    out = self_ensemble_x8(one_pass, x) if params.self_ensemble else one_pass(x)
                    moments.add(out)
                extras = self.tile_extras(net, x, params)
            mean = _from_network(moments.mean, tile_pixels.shape[2])
            result = {"image": from_batch(mean)}
            result.update({name: from_batch(_from_network(t, tile_pixels.shape[2])) for name, t in extras.items()})
            if passes > 1:
                spread = _from_network(moments.std(), tile_pixels.shape[2])
                result["uncertainty"] = from_batch(spread.mean(dim=1, keepdim=True))
            return result

        # Rotated tiles (×8 ensemble) swap height and width; both meet the requirements once padded.
        requirements = self.size_requirements
        overlap = params.tile_overlap
        blender = None
        done = 0
        total = 1
        info: dict[str, Any] = {
            "weights": self._cache_name(),
            "weights_sha256": card.sha256 if card is not None else "",
            "device": device,
            "tile_size": tile,
            "passes": passes,
        }
        shrink = shrink_reporter(device, messages)
        for progress in iter_tiled_adaptive(process, noisy, tile, overlap, requirements, minimum=MIN_TILE, on_shrink=shrink,
                                            origin=ctx.origin):
            blender, done, total = progress.blender, progress.index, progress.total
            info.update(tiles=total, tile_size=progress.tile_size)
            if ctx.stop_requested:
                break
            if done < total:
                snap_image = np.clip(blender.result("image", fallback=noisy), 0.0, 1.0)
                note = f" ({messages[-1]})" if messages else ""
                yield Snapshot(done, total, image=snap_image, message=f"{self.title}: tile {done}/{total}, {progress.tile_size} px{note}",
                               info=dict(info))
        if blender is None:
            # Stopped before the first tile finished: the unchanged input is the current result.
            yield Snapshot(0, total, image=noisy.astype(np.float32, copy=True), final=True, message="stopped", info=info)
            return
        image = np.clip(blender.result("image", fallback=noisy), 0.0, 1.0).astype(np.float32)
        if done == total:
            extras = {name: blender.result(name) for name in blender.names if name not in ("image", "uncertainty")}
            image = np.clip(self.finish(noisy, image, extras, params, info), 0.0, 1.0).astype(np.float32)
        maps: dict[str, np.ndarray] = {}
        if "uncertainty" in blender.names:
            maps["uncertainty"] = blender.result("uncertainty")[:, :, 0].astype(np.float32)
        message = "; ".join(messages + ([f"stopped after tile {done}/{total}"] if done < total else []))
        yield Snapshot(done, total, image=image, final=True, maps=maps, message=message, info=info)


def to_batch(pixels: np.ndarray, device: str) -> torch.Tensor:
    """An H×W×C float image as a 1×C×H×W float32 tensor on ``device``."""
    import torch

    array = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(array).unsqueeze(0).to(device)


def from_batch(tensor: torch.Tensor) -> np.ndarray:
    """The first image of an N×C×H×W tensor as an H×W×C float32 array that owns its memory."""
    return np.array(tensor.detach()[0].float().cpu().numpy().transpose(1, 2, 0), dtype=np.float32, copy=True)


def _to_network(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Fit a 1×C×H×W image to a network's channel count.

    A grey image goes to a colour network as three equal channels; a colour image goes to a
    grey network one channel at a time, as a batch of three.
    """
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        return x.transpose(0, 1).contiguous()
    raise MethodError(f"cannot give a {c}-channel image to a {channels}-channel network")


def _from_network(y: torch.Tensor, channels: int) -> torch.Tensor:
    """Undo :func:`_to_network` on the network's output."""
    if y.shape[0] == 1 and y.shape[1] == channels:
        return y
    if channels == 1:
        return y.mean(dim=1, keepdim=True)
    return y.transpose(0, 1).contiguous()


def weights_card_text(entry: WeightsEntry) -> str:
    """The model card of a weights entry as text (for the window's tool tip)."""
    return f"{entry.label}\n{Path(entry.path)}\n{entry.card.summary()}"
