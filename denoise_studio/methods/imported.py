"""Imported models: a network of a public architecture, read with spandrel, as a method.

Users hold weights of well-known denoisers (DnCNN, DRUNet, SCUNet, NAFNet, SwinIR, Restormer, …)
from public model collections. ``denoise-studio methods import FILE`` checks such a file and
copies it, with a card, into the imported folder (``core/imported_models.py``,
``methods/_common/spandrel_models.py``); the registry then lists it as ``imported:NAME``, and
:func:`method_class` makes its method: one class per model, parameterised by the card.

A run is spandrel's forward pass (its architecture's own padding and clamping to [0, 1]) tile by
tile (``core.tiling.iter_tiled_adaptive``: feathered overlaps, tiles that halve after an
out-of-memory error), then a blend with the input: ``strength`` 1 is the model's output, 0 the
input. A grey image goes to a colour model as three equal channels (and back as their mean); a
colour image goes to a grey model one channel at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.device import DeviceError, available_memory, resolve_device
from denoise_studio.core.imported_models import FAMILY, ImportedCard, ImportedModelError, find_imported
from denoise_studio.core.method import Method, MethodError, RunContext, Snapshot
from denoise_studio.core.params import Params, param
from denoise_studio.core.tiling import SizeRequirements, TilesTooSmallError, choose_tile_size, iter_tiled_adaptive
from denoise_studio.core.weights import file_sha256
from denoise_studio.methods._common.network import from_batch, shrink_reporter, tile_overlap_param, tile_size_param, tiled_cost, to_batch
from denoise_studio.methods._common.spandrel_models import describe_model, read_state_dict, spandrel_missing

if TYPE_CHECKING:
    import torch

MIN_TILE = 64
#: spandrel's ids of the architectures built on attention, whose working memory per pixel is
#: larger than that of a convolutional network of the same width.
ATTENTION_ARCHITECTURES = frozenset(
    {"SwinIR", "Swin2SR", "HAT", "DAT", "FDAT", "GRL", "SCUNet", "Uformer", "DRCT", "ATD", "RGT", "FFTformer", "RetinexFormer", "IPT", "KBNet"}
)


@dataclass(frozen=True)
class ImportedParams(Params):
    """The parameters of every imported model."""

    strength: float = param(
        1.0,
        minimum=0.0,
        maximum=1.0,
        step=0.05,
        title="Strength",
        description="1 is the model's output, 0 the input; in between, a blend of the two (keeps some grain)",
    )
    tile_size: int = tile_size_param()
    tile_overlap: int = tile_overlap_param(32)


class ImportedModel(Method[ImportedParams]):
    """A model imported with ``denoise-studio methods import``; subclasses are made per card.

    The paper is the architecture's own (named in the card); this class implements no equation,
    only its inference: spandrel's forward pass, tiled, blended with the input by ``strength``.
    """

    id: ClassVar[str] = "imported"
    title: ClassVar[str] = "Imported model"
    family: ClassVar[str] = FAMILY
    Params: ClassVar[type[Params]] = ImportedParams
    card: ClassVar[ImportedCard]

    def __init__(self) -> None:
        self._cache: tuple[tuple[Any, ...], Any] | None = None

    # ------------------------------------------------------------------------------ the model

    @classmethod
    def model_path(cls) -> Path:
        """The copy of the model file in the imported folder."""
        return find_imported(cls.card.name).model_path

    def availability(self) -> str | None:
        missing = spandrel_missing()
        if missing is not None:
            return missing
        try:
            self.model_path()
        except ImportedModelError as exc:
            return str(exc)
        return None

    def load_model(self, device: str) -> Any:
        """spandrel's descriptor of the model on ``device``, checked against the card's sha256."""
        path = self.model_path()
        key = (str(path), path.stat().st_mtime_ns, device)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        self._cache = None
        actual = file_sha256(path)
        if self.card.sha256 and actual != self.card.sha256:
            raise ImportedModelError(
                f"{path.name}: checksum mismatch — the file was changed after import "
                f"(expected sha256 {self.card.sha256[:12]}…, found {actual[:12]}…); import it again"
            )
        descriptor = describe_model(read_state_dict(path), path.name).to(device)
        self._cache = (key, descriptor)
        return descriptor

    # ------------------------------------------------------------------------------ cost

    def bytes_per_pixel(self) -> float:
        """Peak inference memory per input pixel: eight float32 maps of the widest layer.

        Attention-based architectures (SwinIR, Restormer, SCUNet) keep more alive per pixel;
        the factor errs on the safe side for convolutional ones only, so they get twice that.
        """
        width = max(self.card.widest_layer, self.card.input_channels)
        return 8.0 * 4.0 * width * (2.0 if self.card.architecture in ATTENTION_ARCHITECTURES else 1.0)

    def estimate_cost(self, shape: tuple[int, ...], params: ImportedParams, device: str = "cpu") -> CostEstimate:
        """Tiled: a few copies of the image, one tile's working memory and the weights."""
        channels = int(shape[2]) if len(shape) > 2 else 1
        passes = 3 if channels == 3 and self.card.input_channels == 1 else 1
        return tiled_cost(shape, params.tile_size, self.bytes_per_pixel(), self.size_requirements, device,
                          seconds_per_megapixel=self.card.cpu_seconds_per_megapixel, passes=passes,
                          extra_bytes=self.card.parameters * 4)

    # ------------------------------------------------------------------------------ run

    def run(self, noisy: np.ndarray, params: ImportedParams, ctx: RunContext) -> Iterator[Snapshot]:
        try:
            device = resolve_device(ctx.device)
        except DeviceError as exc:
            raise MethodError(str(exc)) from None
        descriptor = self.load_model(device)
        tile = params.tile_size or choose_tile_size(self.bytes_per_pixel(), available_memory(device), self.size_requirements)
        messages: list[str] = []
        shrink = shrink_reporter(device, messages)

        info: dict[str, Any] = {"model": self.card.name, "architecture": self.card.architecture, "weights_sha256": self.card.sha256, "device": device}
        blender = None
        done = total = 0
        try:
            tiles = iter_tiled_adaptive(
                lambda pixels: {"image": self._forward(descriptor, pixels, device)},
                noisy, tile, params.tile_overlap, self.size_requirements, minimum=MIN_TILE, on_shrink=shrink,
                origin=ctx.origin,
            )
            for progress in tiles:
                blender, done, total = progress.blender, progress.index, progress.total
                info.update(tiles=total, tile_size=progress.tile_size)
                if ctx.stop_requested:
                    break
                if done < total:
                    preview = self._blend(noisy, blender.result("image", fallback=noisy), params.strength)
                    yield Snapshot(done, total, image=preview, message=f"{self.card.name}: tile {done}/{total}", info=dict(info))
        except TilesTooSmallError as exc:
            raise MethodError(f"{self.title}: out of memory on {device} even with tiles of {exc.tile_size} px; run on a region") from None
        if blender is None:
            yield Snapshot(0, max(total, 1), image=noisy.astype(np.float32, copy=True), final=True, message="stopped", info=info)
            return
        image = self._blend(noisy, blender.result("image", fallback=noisy), params.strength)
        message = "; ".join(messages + ([f"stopped after tile {done}/{total}"] if done < total else []))
        yield Snapshot(done, total, image=image, final=True, message=message, info=info)

    def _forward(self, descriptor: Any, pixels: np.ndarray, device: str) -> np.ndarray:
        """The model's output for one H×W×C tile (float32 in [0, 1])."""
        import torch

        x = to_batch(pixels, device)
        with torch.inference_mode():
            y = _to_image_channels(_run_model(descriptor, x, self.card.input_channels), pixels.shape[2])
        return from_batch(y)

    @staticmethod
    def _blend(noisy: np.ndarray, output: np.ndarray, strength: float) -> np.ndarray:
        blended = strength * output + (1.0 - strength) * noisy if strength < 1.0 else output
        return np.clip(blended, 0.0, 1.0).astype(np.float32)


def _run_model(descriptor: Any, x: torch.Tensor, model_channels: int) -> torch.Tensor:
    """Feed a 1×C×H×W image to a model of ``model_channels``: grey to colour as three equal
    channels, colour to grey one channel at a time."""
    import torch

    channels = x.shape[1]
    if channels == model_channels:
        return descriptor(x)
    if channels == 1 and model_channels == 3:
        return descriptor(x.expand(-1, 3, -1, -1).contiguous())
    if channels == 3 and model_channels == 1:
        return torch.cat([descriptor(x[:, c : c + 1]) for c in range(3)], dim=1)
    raise MethodError(f"cannot give a {channels}-channel image to a {model_channels}-channel model")


def _to_image_channels(y: torch.Tensor, channels: int) -> torch.Tensor:
    """The model's output with the image's channel count (a colour output of a grey image: the mean)."""
    if y.shape[1] == channels:
        return y
    if channels == 1:
        return y.mean(dim=1, keepdim=True)
    raise MethodError(f"the model returned {y.shape[1]} channels for a {channels}-channel image")


_CLASSES: dict[tuple[str, str], type[ImportedModel]] = {}


def method_class(card: ImportedCard) -> type[ImportedModel]:
    """The method class of one imported model (the same class for the same card contents)."""
    key = (card.name, card.sha256)
    cls = _CLASSES.get(key)
    if cls is None:
        attributes = {
            "id": card.method_id,
            "title": card.title,
            "card": card,
            "description": card.summary(),
            # The architecture's minimum side is left to spandrel, which pads a smaller tile itself:
            # declared here, it would refuse images that the model handles.
            "size_requirements": SizeRequirements(multiple_of=max(1, card.multiple_of)),
            "seconds_per_megapixel": card.cpu_seconds_per_megapixel,
            "__doc__": f"{card.title}, imported from {card.source_file}.\n\n{card.summary()}",
        }
        cls = type(f"Imported_{card.name.replace('-', '_').replace('.', '_')}", (ImportedModel,), attributes)
        _CLASSES[key] = cls
    return cls
