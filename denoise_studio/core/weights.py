"""Network weights: safetensors files with a JSON model card beside them.

A weights file ``NAME.safetensors`` always travels with ``NAME.json``, its *model card*: which
method and configuration it belongs to, how it was trained (the exact command, the data, steps,
minutes, device), what it measured (validation PSNR, benchmark figures) and the sha256 of the
weights file. Loading checks the checksum and the architecture, so a truncated download, a file
edited by hand or the weights of another network give a clear error instead of garbage.

Weights come from two places: the ones the application ships (``resources/weights/``) and the
ones a user trains (``<user data dir>/weights``, from platformdirs; the environment variable
``DENOISE_STUDIO_DATA_DIR`` moves the user data directory, which the tests use).

Safetensors holds tensors only, never pickled code, so opening a weights file cannot run
anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from denoise_studio.core.method import MethodError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from denoise_studio.core.network import NetworkSpec

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
FORMAT = "denoise-studio-weights/1"
SHIPPED = "shipped"
USER = "user"


class WeightsError(MethodError):
    """A weights file is missing, corrupted, or belongs to another network (a user message)."""


# --------------------------------------------------------------------------------------------
# Where weights live
# --------------------------------------------------------------------------------------------


def resource_dirs(kind: str) -> list[Path]:
    """Existing folders of shipped resources of one ``kind`` (``weights``, ``icons``).

    The package's own ``resources/<kind>`` (an installed wheel, where pyproject.toml maps the
    top-level ``resources/`` to ``denoise_studio.resources``) and the source tree's
    ``resources/<kind>`` (a development checkout).
    """
    package = Path(__file__).resolve().parents[1]
    candidates = [package / "resources" / kind, package.parent / "resources" / kind]
    return [p for p in candidates if p.is_dir()]


def shipped_dirs() -> list[Path]:
    """Folders that hold the weights shipped with the application, existing ones only."""
    return resource_dirs("weights")


def user_data_dir() -> Path:
    """The user data directory of Denoise Studio (``DENOISE_STUDIO_DATA_DIR`` overrides it)."""
    override = os.environ.get("DENOISE_STUDIO_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("denoise-studio", appauthor=False))


def user_weights_dir() -> Path:
    """Where weights trained by the user are written (not created until something is saved)."""
    return user_data_dir() / "weights"


def default_user_weights_path(method_id: str, config: str, stamp: str | None = None) -> Path:
    """A fresh file name in the user weights folder: ``<method>-<config>-<UTC time>.safetensors``."""
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return user_weights_dir() / f"{method_id}-{config}-{stamp}{WEIGHTS_SUFFIX}"


def card_path(weights_path: str | os.PathLike[str]) -> Path:
    """The model card that belongs to a weights file."""
    return Path(weights_path).with_suffix(CARD_SUFFIX)


# --------------------------------------------------------------------------------------------
# The model card
# --------------------------------------------------------------------------------------------


@dataclass
class ModelCard:
    """What is known about one weights file; stored as JSON beside it.

    ``sha256`` is the checksum of the ``.safetensors`` file; ``benchmark`` maps a label such as
    ``"CBSD68 gaussian σ25 (8 images)"`` to a PSNR in dB; ``limitations`` says honestly what the
    weights are not (a short training, missing loss terms, ...).
    """

    method: str
    config: str
    channels: int = 3
    architecture: str = ""
    parameters: int = 0
    recipe_command: str = ""
    recipe: dict[str, Any] = field(default_factory=dict)
    training_data: str = ""
    training_images: int = 0
    noise: str = ""
    sigma: list[float] = field(default_factory=list)
    supervision: str = ""
    steps: int = 0
    minutes: float = 0.0
    device: str = ""
    processes: int = 1
    validation_psnr: float | None = None
    validation_images: int = 0
    best_step: int = 0
    benchmark: dict[str, float] = field(default_factory=dict)
    dtype: str = "float32"
    sha256: str = ""
    created: str = ""
    limitations: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        """Build from a JSON object; unknown keys (from a newer version) are kept in ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        unknown = {k: v for k, v in data.items() if k not in known}
        if "method" not in values or "config" not in values:
            raise WeightsError("model card lacks 'method' or 'config'")
        card = cls(**values)
        card.extra.update(unknown)
        return card

    def summary(self) -> str:
        """A few lines for the method panel's tool tip and for ``MODELS.md``."""
        lines = [f"{self.method} · {self.config} · {self.parameters:,} parameters · {self.dtype}"]
        data = self.training_data or "unknown data"
        if self.training_images:
            data += f" ({self.training_images} images)"
        noise = f", {self.noise} σ {'–'.join(dict.fromkeys(f'{s:g}' for s in self.sigma))}" if self.noise else ""
        lines.append(f"trained on {data}{noise}, {self.supervision or 'supervision unknown'}")
        lines.append(f"{self.steps} steps in {self.minutes:.1f} min on {self.device or '?'}" + (f" × {self.processes} processes" if self.processes > 1 else ""))
        if self.validation_psnr is not None:
            lines.append(f"validation PSNR {self.validation_psnr:.2f} dB (best at step {self.best_step}, {self.validation_images} images)")
        for label, value in self.benchmark.items():
            lines.append(f"{label}: {value:.2f} dB")
        if self.limitations:
            lines.append(f"limitations: {self.limitations}")
        if self.recipe_command:
            lines.append(f"recipe: {self.recipe_command}")
        return "\n".join(lines)


def read_card(weights_path: str | os.PathLike[str]) -> ModelCard:
    """The model card beside a weights file; :class:`WeightsError` if missing or unreadable."""
    path = card_path(weights_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{weights_path}: no model card ({path.name}) beside the weights") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable model card ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: the model card is not a JSON object")
    return ModelCard.from_json(data)


def write_card(weights_path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write (atomically) the model card beside a weights file."""
    path = card_path(weights_path)
    _atomic_write(path, (json.dumps(card.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_parameters(net: nn.Module) -> int:
    return sum(int(p.numel()) for p in net.parameters())


def save_weights(
    path: str | os.PathLike[str],
    state_dict: dict[str, torch.Tensor],
    card: ModelCard,
    dtype: str = "float32",
) -> ModelCard:
    """Write ``state_dict`` as safetensors and its model card beside it; return the final card.

    ``dtype="float16"`` stores floating-point tensors in half precision (half the size); decide
    it with :func:`half_precision_costs_nothing`. The card's ``sha256``, ``dtype`` and
    ``created`` are filled in here.
    """
    import torch
    from safetensors.torch import save as st_save

    if dtype not in ("float32", "float16"):
        raise ValueError("dtype must be float32 or float16")
    tensors: dict[str, torch.Tensor] = {}
    for name, value in state_dict.items():
        t = value.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float16 if dtype == "float16" else torch.float32)
        tensors[name] = t.contiguous().clone()
    metadata = {"format": FORMAT, "method": card.method, "config": card.config, "channels": str(card.channels)}
    path = Path(path)
    _atomic_write(path, st_save(tensors, metadata=metadata))
    card = dataclasses.replace(card, dtype=dtype, sha256=file_sha256(path))
    if not card.created:
        card.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_card(path, card)
    return card


def load_state_dict(path: str | os.PathLike[str], card: ModelCard | None = None, verify: bool = True) -> tuple[dict[str, torch.Tensor], ModelCard]:
    """Read a weights file (tensors as float32) after checking it against its model card.

    Raises
    ------
    WeightsError
        If the file or its card is missing, the checksum does not match (a corrupted or altered
        file), the file is not a safetensors file, or its header names another method or
        configuration than its card.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    card = card or read_card(path)
    data = path.read_bytes()
    if verify and card.sha256:
        actual = hashlib.sha256(data).hexdigest()
        if actual != card.sha256:
            raise WeightsError(
                f"{path.name}: checksum mismatch — the file is corrupted or was changed after training "
                f"(expected sha256 {card.sha256[:12]}…, found {actual[:12]}…)"
            )
    try:
        tensors = st_load(data)
        metadata = _safetensors_metadata(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path.name}: not a valid safetensors file ({exc})") from None
    for key in ("method", "config"):
        if key in metadata and metadata[key] != getattr(card, key):
            raise WeightsError(f"{path.name}: the file is for {key} {metadata[key]!r} but its card says {getattr(card, key)!r}")
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}, card


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return dict(meta) if isinstance(meta, dict) else {}


def check_architecture(net: nn.Module, state_dict: dict[str, torch.Tensor], label: str) -> None:
    """Raise :class:`WeightsError` naming the differences if ``state_dict`` does not fit ``net``."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape (e.g. {k}: {found[k]} instead of {expected[k]})")
    raise WeightsError(f"{label}: the weights do not fit this network's architecture: " + "; ".join(parts))


def load_network(
    path: str | os.PathLike[str],
    spec: NetworkSpec,
    device: str = "cpu",
    verify: bool = True,
) -> tuple[nn.Module, ModelCard]:
    """Build ``spec``'s network for the card's configuration, load the weights, eval mode."""
    state, card = load_state_dict(path, verify=verify)
    name = Path(path).name
    if card.method != spec.method_id:
        raise WeightsError(f"{name}: these are weights for {card.method!r}, not {spec.method_id!r}")
    try:
        spec.check_config(card.config)
    except ValueError as exc:
        raise WeightsError(f"{name}: {exc}") from None
    net = spec.build(card.config, card.channels)
    check_architecture(net, state, name)
    net.load_state_dict(state, strict=True)
    return net.to(device).eval(), card


def half_precision_costs_nothing(state_dict: dict[str, torch.Tensor], evaluate: Any = None, tolerance: float = 0.01) -> bool:
    """Whether storing the weights in float16 is free.

    Never when a value would overflow float16. With ``evaluate`` (a function of a state dict
    returning a quality in dB, such as the validation PSNR), only if rounding to float16 changes
    that figure by less than ``tolerance`` dB; without it, if the largest relative rounding error
    of any tensor is below 1e-3.
    """
    floats = {k: v.detach().float().cpu() for k, v in state_dict.items() if v.is_floating_point()}
    if any(bool((v.abs() > 6.0e4).any()) for v in floats.values()):
        return False
    rounded = {k: (v.half().float() if k in floats else v) for k, v in state_dict.items()}
    if evaluate is not None:
        return abs(float(evaluate(rounded)) - float(evaluate(state_dict))) < tolerance
    for k, v in floats.items():
        scale = float(v.abs().max())
        if scale > 0 and float((rounded[k] - v).abs().max()) / scale > 1e-3:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsEntry:
    """One weights file found on disk, with its card and where it came from."""

    path: Path
    card: ModelCard
    origin: str  # SHIPPED or USER

    @property
    def name(self) -> str:
        """The file name without its extension: what the ``weights`` parameter accepts."""
        return self.path.stem

    @property
    def label(self) -> str:
        """A short line for a drop-down list."""
        psnr = f", val {self.card.validation_psnr:.2f} dB" if self.card.validation_psnr is not None else ""
        return f"{self.name} ({self.origin}, {self.card.config}{psnr})"


def list_weights(method_id: str | None = None, include_user: bool = True) -> list[WeightsEntry]:
    """Weights on disk with a readable card, shipped first then the user's (newest first).

    Files whose card is missing or unreadable are skipped here (loading them by path still
    explains the problem).
    """
    found: list[WeightsEntry] = []
    sources = [(d, SHIPPED) for d in shipped_dirs()]
    if include_user and user_weights_dir().is_dir():
        sources.append((user_weights_dir(), USER))
    seen: set[Path] = set()
    for folder, origin in sources:
        # By name, so that "invdn-lite" (the default) comes before "invdn-lite-camera".
        files = sorted(folder.glob(f"*{WEIGHTS_SUFFIX}"), key=lambda p: p.stem)
        if origin == USER:
            files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for path in files:
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            try:
                card = read_card(path)
            except WeightsError:
                continue
            if method_id is None or card.method == method_id:
                found.append(WeightsEntry(path, card, origin))
    return found


def find_weights(method_id: str, name: str) -> WeightsEntry:
    """The weights called ``name`` (a file stem from :func:`list_weights`, or a path)."""
    candidate = Path(name).expanduser()
    if candidate.suffix == WEIGHTS_SUFFIX or os.sep in name or "/" in name:
        if not candidate.is_file():
            raise WeightsError(f"{name}: no such weights file")
        card = read_card(candidate)
        if card.method != method_id:
            raise WeightsError(f"{candidate.name}: these are weights for {card.method!r}, not {method_id!r}")
        return WeightsEntry(candidate, card, USER)
    entries = list_weights(method_id)
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries) or "none"
    raise WeightsError(f"{method_id}: no weights named {name!r} (available: {known})")


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        # mkstemp makes the file private (0600); weights and cards are ordinary files.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# What noise a card's weights are for, and whether an image's noise fits.
# --------------------------------------------------------------------------------------------

#: The noise models of ``core.noise`` that weights trained on a card's ``noise`` handle.
#: Poisson–Gaussian noise is white like Gaussian noise; camera noise is spatially correlated
#: (demosaicked), which Gaussian-trained networks leave in and blind-spot networks are made for.
NOISE_THE_CARD_FITS: dict[str, tuple[str, ...]] = {
    "gaussian": ("gaussian", "poisson-gaussian"),
    "camera": ("camera",),
}
#: How far outside the card's σ range an image's σ may lie and still fit (a factor).
SIGMA_TOLERANCE = 1.5


def noise_text(card: ModelCard) -> str:
    """``Gaussian noise, σ 5–55``: what the weights were trained for ('' when the card says not)."""
    if not card.noise:
        return ""
    sigmas = "–".join(dict.fromkeys(f"{s:g}" for s in (min(card.sigma), max(card.sigma)))) if card.sigma else ""
    return f"{_noise_name(card.noise)} noise" + (f", σ {sigmas}" if sigmas else "")


def _noise_name(model: str) -> str:
    return {"gaussian": "Gaussian", "poisson-gaussian": "Poisson–Gaussian"}.get(model, model)


def noise_mismatch(card: ModelCard, sigma: float | None, model: str | None = None) -> str | None:
    """Why weights with ``card`` do not fit an image's noise, or ``None`` when they do (or
    when the card does not say what it was trained on).

    ``model`` is the image's noise model when it is known (noise the user added: ``gaussian``,
    ``camera``, ...), ``None`` for a photo, whose kind of noise is not estimated; ``sigma`` is
    that noise's σ (0–255), the one added or an estimate. A photo is only checked against
    Gaussian weights' σ range: a camera's noise is what camera weights are for.
    """
    if not card.noise:
        return None
    if model is not None and model not in NOISE_THE_CARD_FITS.get(card.noise, (card.noise,)):
        return f"these weights are for {noise_text(card)}; the image has {_noise_name(model)} noise"
    if sigma is None or not card.sigma or (model is None and card.noise != "gaussian"):
        return None
    low, high = min(card.sigma), max(card.sigma)
    if sigma < low / SIGMA_TOLERANCE:
        return f"the image's noise (σ ≈ {sigma:.0f}) is weaker than these weights expect ({noise_text(card)})"
    if sigma > high * SIGMA_TOLERANCE:
        return f"the image's noise (σ ≈ {sigma:.0f}) is stronger than these weights expect ({noise_text(card)})"
    return None
