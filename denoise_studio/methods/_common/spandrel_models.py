"""Reading a model file of a public architecture with spandrel, and importing it.

spandrel (``pip install --no-deps spandrel einops``: its metadata asks for torchvision, and
letting pip resolve that replaces the torch in use) detects the architecture and its
hyper-parameters from the names and shapes in a state dict. It is imported lazily, after
:func:`~denoise_studio.methods._common.torchvision_standin.ensure_torchvision`.

Safety: a ``.safetensors`` file holds tensors only. A pickle file (``.pth``, ``.pt``, ``.ckpt``)
is read with torch's weights-only unpickler, an allow-list of tensors and plain containers like
spandrel's own ``RestrictedUnpickler``, so a file that carries code is refused, not run. (spandrel's
``ModelLoader`` would first try a ``.pt`` file as TorchScript, which runs its code; it is not used.)
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from denoise_studio.core.imported_models import (
    MODEL_SUFFIXES,
    ImportedCard,
    ImportedModelError,
    card_path_of,
    check_name,
    imported_dir,
    name_for_file,
    name_from_id,
    write_imported_card,
)
from denoise_studio.methods._common.network import widest_layer
from denoise_studio.methods._common.torchvision_standin import ensure_torchvision

if TYPE_CHECKING:
    import torch

INSTALL_HINT = 'pip install --no-deps "spandrel==0.4.2" einops'
# The side of the tile timed at import for the cost estimate.
_TIMING_SIDE = 128


def spandrel_module() -> Any:
    """The spandrel package, with torchvision (or its stand-in) importable first."""
    ensure_torchvision()
    try:
        import spandrel
    except ImportError as exc:
        raise ImportedModelError(f"imported models need spandrel, which is not installed ({exc}); install it with: {INSTALL_HINT}") from None
    return spandrel


def spandrel_missing() -> str | None:
    """Why spandrel cannot be used here, or ``None`` when it can (without importing it)."""
    import importlib.util

    if importlib.util.find_spec("spandrel") is None:
        return f"spandrel is not installed: {INSTALL_HINT}"
    return None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a model file, never running code from it; :class:`ImportedModelError` if unreadable."""
    import torch

    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ImportedModelError(f"{path.name}: cannot import a {suffix or 'file without extension'}; use one of {', '.join(MODEL_SUFFIXES)}")
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails wherever the parser trips (IndexError, SafetensorError, ...)
        raise ImportedModelError(f"{path.name}: {_why_unreadable(exc)}") from None
    if not isinstance(state, dict):
        raise ImportedModelError(f"{path.name}: holds a {type(state).__name__}, not the tensors of a model")
    return dict(spandrel_module().canonicalize_state_dict(state))


def _why_unreadable(exc: BaseException) -> str:
    """What a failed read means to the user (torch's own messages are long and about its API)."""
    text = str(exc)
    blocked = re.search(r"GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)", text)
    if blocked:
        name = blocked.group(1) or blocked.group(2)
        return f"refused: the file holds a Python object ({name}) besides tensors, and loading it could run code; export the model's state dict alone"
    return "corrupt or not a model file (it does not read as a PyTorch or safetensors file of tensors)"


def describe_model(state: dict[str, torch.Tensor], label: str) -> Any:
    """spandrel's ``ImageModelDescriptor`` of a state dict, in eval mode on the CPU.

    Refuses, with a clear :class:`ImportedModelError`: an unknown architecture, an inpainting
    model, a super-resolution model (scale ≠ 1), and channel counts the studio cannot feed.
    """
    spandrel = spandrel_module()
    try:
        descriptor = spandrel.MAIN_REGISTRY.load(state)
    except spandrel.UnsupportedModelError:
        raise ImportedModelError(f"{label}: unknown architecture (spandrel recognises none in this file)") from None
    except Exception as exc:  # noqa: BLE001 - a detected architecture whose tensors do not fit it
        raise ImportedModelError(f"{label}: the file looks like a known architecture but does not load ({type(exc).__name__}: {exc})") from None
    architecture = descriptor.architecture.id
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ImportedModelError(f"{label}: a {architecture} model ({descriptor.purpose}) is not an image-to-image model")
    if descriptor.scale != 1:
        raise ImportedModelError(f"{label}: a {architecture} super-resolution model (×{descriptor.scale}); only models that keep the size (×1) denoise")
    if descriptor.purpose == "FaceSR":
        raise ImportedModelError(f"{label}: a {architecture} face restoration model, not a denoiser")
    if descriptor.input_channels != descriptor.output_channels or descriptor.input_channels not in (1, 3):
        raise ImportedModelError(
            f"{label}: a {architecture} model of {descriptor.input_channels} → {descriptor.output_channels} channels; "
            "only grey (1 → 1) and colour (3 → 3) models can be imported"
        )
    return descriptor.eval()


def _seconds_per_megapixel(descriptor: Any) -> float | None:
    """CPU seconds per megapixel, timed on one small tile (``None`` when the run fails)."""
    import torch

    side = max(_TIMING_SIDE, descriptor.size_requirements.minimum)
    tile = torch.rand(1, descriptor.input_channels, side, side)
    try:
        descriptor(tile)  # the first call pays for one-off set-up; the second is timed
        start = time.perf_counter()
        descriptor(tile)
        elapsed = time.perf_counter() - start
    except Exception:  # noqa: BLE001 - the estimate is a nicety; the run itself will report the error
        return None
    return round(elapsed * 1e6 / (side * side), 3)


def import_model_file(source: str | Path, name: str | None = None, licence: str = "") -> ImportedCard:
    """Check a model file, copy it into the imported folder with its card; the new card.

    Nothing is written unless the file reads, its architecture is known and it denoises
    (scale 1). The source file is only read.
    """
    path = Path(source).expanduser()
    if not path.is_file():
        raise ImportedModelError(f"{source}: no such file")
    name = check_name(name_from_id(name) if name is not None else name_for_file(path))
    if card_path_of(name).exists():
        raise ImportedModelError(f"a model called {name!r} is already imported; remove it first (methods remove imported:{name}) or choose --name")
    state = read_state_dict(path)
    descriptor = describe_model(state, path.name)
    spandrel = spandrel_module()
    requirements = descriptor.size_requirements
    card = ImportedCard(
        name=name,
        file=f"{name}{path.suffix.lower()}",
        architecture=str(descriptor.architecture.id),
        architecture_name=str(descriptor.architecture.name),
        purpose=str(descriptor.purpose),
        scale=int(descriptor.scale),
        input_channels=int(descriptor.input_channels),
        output_channels=int(descriptor.output_channels),
        parameters=sum(int(p.numel()) for p in descriptor.model.parameters()),
        widest_layer=widest_layer(descriptor.model, int(descriptor.input_channels)),
        multiple_of=int(requirements.multiple_of),
        minimum=int(requirements.minimum),
        tags=[str(tag) for tag in descriptor.tags],
        source_file=path.name,
        imported=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        cpu_seconds_per_megapixel=_seconds_per_megapixel(descriptor),
        spandrel_version=str(spandrel.__version__),
        licence=licence,
    )
    card.sha256 = _copy_into_folder(path, imported_dir() / card.file)
    write_imported_card(card)
    return card


def _copy_into_folder(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` atomically; the sha256 of the bytes copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out, open(source, "rb") as src:
        temporary = Path(out.name)
        try:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        except BaseException:
            out.close()
            temporary.unlink(missing_ok=True)
            raise
    temporary.chmod(0o644)  # NamedTemporaryFile makes it private; a model file is an ordinary file
    temporary.replace(target)
    return digest.hexdigest()
