"""The folder of imported models: a copy of each model file with its card, no torch needed.

``denoise-studio methods import FILE`` copies a model file (``.pth``, ``.pt``, ``.ckpt`` or
``.safetensors``) of a known architecture into ``<user data dir>/imported/`` as
``NAME<suffix>``, with ``NAME.json`` beside it: the :class:`ImportedCard` (architecture, scale,
channels, parameters, sha256 of the file, the source file's name, a licence the user can fill
in). The method registry lists the models it finds here at start-up as ``imported:NAME``.

This module only reads and writes the folder and the cards (JSON); reading the model itself is
the job of ``methods/imported.py``, which needs torch and spandrel.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from denoise_studio.core.method import MethodError
from denoise_studio.core.weights import _atomic_write, user_data_dir

#: Registry ids of imported models are this prefix and the model's name.
ID_PREFIX = "imported:"
#: The family imported models are listed under.
FAMILY = "Imported"
#: The model file types that can be imported (pickle files are read with a restricted unpickler).
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
CARD_FORMAT = "denoise-studio-imported/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ImportedModelError(MethodError):
    """An imported model cannot be imported, found, read or removed (a user message)."""


@dataclass
class ImportedCard:
    """What is known about one imported model; stored as ``NAME.json`` beside its file.

    ``file`` is the copy's name in the imported folder, ``source_file`` the name of the file the
    user imported; ``sha256`` is the checksum of both. ``licence`` is empty until the user fills
    it in (the terms of the model are the author's, not ours). ``multiple_of`` and ``minimum``
    are the architecture's size requirements; ``cpu_seconds_per_megapixel`` was measured on a
    small tile at import, for the cost estimate.
    """

    name: str
    file: str
    architecture: str
    architecture_name: str = ""
    purpose: str = "Restoration"
    scale: int = 1
    input_channels: int = 3
    output_channels: int = 3
    parameters: int = 0
    widest_layer: int = 64
    multiple_of: int = 1
    minimum: int = 0
    tags: list[str] = field(default_factory=list)
    sha256: str = ""
    source_file: str = ""
    imported: str = ""
    licence: str = ""
    cpu_seconds_per_megapixel: float | None = None
    spandrel_version: str = ""
    format: str = CARD_FORMAT
    notes: str = ""

    @property
    def method_id(self) -> str:
        """The registry id: ``imported:NAME``."""
        return ID_PREFIX + self.name

    @property
    def title(self) -> str:
        """The name shown in method lists: the name and the architecture."""
        return f"{self.name} ({self.architecture})"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportedCard:
        """Build from a JSON object; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [key for key in ("name", "file", "architecture") if key not in data]
        if missing:
            raise ImportedModelError(f"the card lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in known}
        for key, kind in _CARD_TYPES.items():  # a hand-edited card fails here, with the field named
            value = values.get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise ImportedModelError(f"the card's {key!r} should be {'text' if kind is str else 'a number'}, not {value!r}")
        return cls(**values)

    def summary(self) -> str:
        """A few lines for a tool tip and for ``methods``."""
        lines = [
            f"{self.architecture} · ×{self.scale} · {self.input_channels}→{self.output_channels} channels · {self.parameters:,} parameters",
            f"imported from {self.source_file or '?'} on {self.imported or '?'}; sha256 {self.sha256[:12]}…",
            f"licence: {self.licence or 'not filled in (edit the card)'}",
        ]
        return "\n".join(lines)


#: The card fields a hand edit could break, and the JSON types they must have.
_CARD_TYPES: dict[str, Any] = {
    "name": str, "file": str, "architecture": str, "sha256": str, "licence": str,
    "scale": int, "input_channels": int, "output_channels": int, "parameters": int,
    "widest_layer": int, "multiple_of": int, "minimum": int, "cpu_seconds_per_megapixel": (int, float),
}


@dataclass(frozen=True)
class ImportedModel:
    """One imported model on disk: its card and where its file and card are."""

    card: ImportedCard
    model_path: Path
    card_path: Path


def imported_dir() -> Path:
    """The folder of imported models (not created until a model is imported)."""
    return user_data_dir() / "imported"


def name_from_id(method_id_or_name: str) -> str:
    """``imported:NAME`` or ``NAME`` → ``NAME``."""
    return method_id_or_name[len(ID_PREFIX):] if method_id_or_name.startswith(ID_PREFIX) else method_id_or_name


def check_name(name: str) -> str:
    """A name fit for a file and a registry id; :class:`ImportedModelError` explains otherwise."""
    if not _NAME.match(name):
        raise ImportedModelError(
            f"{name!r} cannot name a model: use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def name_for_file(path: Path) -> str:
    """The default name of a model imported from ``path``: its stem with odd characters as ``_``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-")[:64]
    return stem or "model"


def card_path_of(name: str) -> Path:
    return imported_dir() / f"{name}.json"


def read_imported_card(path: Path) -> ImportedCard:
    """The card at ``path``; :class:`ImportedModelError` if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportedModelError(f"{path}: no such model card") from None
    except (OSError, ValueError) as exc:
        raise ImportedModelError(f"{path}: unreadable model card ({exc})") from None
    if not isinstance(data, dict):
        raise ImportedModelError(f"{path}: the model card is not a JSON object")
    try:
        return ImportedCard.from_json(data)
    except (TypeError, ImportedModelError) as exc:
        raise ImportedModelError(f"{path}: {exc}") from None


def write_imported_card(card: ImportedCard) -> Path:
    """Write (atomically) the card of an imported model into the imported folder."""
    path = card_path_of(card.name)
    _atomic_write(path, (json.dumps(card.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def list_imported() -> list[ImportedModel]:
    """The imported models whose card reads and whose file is there, by name.

    A card that cannot be read, or whose model file is gone, is skipped: ``methods remove``
    still takes it out.
    """
    folder = imported_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            card = read_imported_card(path)
        except ImportedModelError:
            continue
        model_path = folder / card.file
        if card.name == path.stem and _NAME.match(card.name) and model_path.is_file() and model_path.parent == folder:
            found.append(ImportedModel(card, model_path, path))
    return found


def find_imported(method_id_or_name: str) -> ImportedModel:
    """The imported model called ``NAME`` (or ``imported:NAME``)."""
    name = name_from_id(method_id_or_name)
    for model in list_imported():
        if model.card.name == name:
            return model
    known = ", ".join(m.card.method_id for m in list_imported()) or "none"
    raise ImportedModelError(f"no imported model {ID_PREFIX}{name} (imported: {known})")


def remove_imported(method_id_or_name: str) -> list[Path]:
    """Delete an imported model's file and card; the paths removed.

    A model whose card is unreadable is removed too (its ``NAME.*`` files in the imported
    folder), so a broken import can always be taken out.
    """
    name = check_name(name_from_id(method_id_or_name))
    folder = imported_dir()
    card_file = card_path_of(name)
    targets: list[Path] = []
    try:
        card = read_imported_card(card_file)
        targets = [folder / card.file, card_file]
    except ImportedModelError:
        targets = [folder / f"{name}{suffix}" for suffix in MODEL_SUFFIXES] + ([card_file] if card_file.exists() else [])
    removed = []
    for path in targets:
        if path.parent == folder and path.is_file():
            os.remove(path)
            removed.append(path)
    if not removed:
        raise ImportedModelError(f"no imported model {ID_PREFIX}{name} in {folder}")
    return removed
