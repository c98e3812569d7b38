"""The method registry: one entry per denoiser, loaded lazily.

Importing this package imports no method module (and so no torch, no bm3d); an entry's class is
imported the first time :meth:`MethodEntry.load` is called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from denoise_studio.core.errors import UserError

if TYPE_CHECKING:
    from denoise_studio.core.method import Method


@dataclass(frozen=True)
class MethodEntry:
    """Where a method lives: ``target`` is ``"module:Class"`` relative to this package."""

    id: str
    title: str
    family: str
    target: str

    def load(self) -> type[Method[Any]]:
        """Import and return the method class."""
        module_name, _, class_name = self.target.partition(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        cls: type[Method[Any]] = getattr(module, class_name)
        if cls.id != self.id:
            raise RuntimeError(f"registry entry {self.id!r} points at a class whose id is {cls.id!r}")
        return cls

    def create(self) -> Method[Any]:
        """A new instance of the method."""
        return self.load()()


_ENTRIES: tuple[MethodEntry, ...] = (
    MethodEntry("gaussian", "Gaussian blur", "Classical", "classical:GaussianBlur"),
    MethodEntry("median", "Median filter", "Classical", "classical:Median"),
    MethodEntry("bilateral", "Bilateral filter", "Classical", "classical:Bilateral"),
    MethodEntry("nlm", "Non-local means", "Classical", "classical:NLM"),
    MethodEntry("bm3d", "BM3D", "Classical", "classical:BM3D"),
    MethodEntry("tv", "Total variation (Chambolle)", "Classical", "classical:TotalVariation"),
    MethodEntry("wavelet", "Wavelet shrinkage (BayesShrink)", "Classical", "classical:Wavelet"),
    MethodEntry("dip", "Deep Image Prior", "Deep Image Prior", "dip:DIP"),
    MethodEntry("nas_dip", "NAS-DIP", "Deep Image Prior", "nas_dip:NASDIP"),
    MethodEntry("invdn", "InvDN", "Supervised", "invdn:InvDN"),
    MethodEntry("formresnet", "FormResNet", "Supervised", "formresnet:FormResNet"),
    MethodEntry("diffresnet", "DiffResNet", "Supervised", "formresnet:DiffResNet"),
    MethodEntry("ap_bsn", "AP-BSN", "Self-supervised", "ap_bsn:APBSN"),
    MethodEntry("lg_bpn", "LG-BPN", "Self-supervised", "lg_bpn:LGBPN"),
    MethodEntry("masked", "Masked Image Training", "Supervised", "masked:MaskedDenoiser"),
    MethodEntry("masked_baseline", "Masked Image Training: unmasked baseline", "Supervised", "masked:MaskedBaseline"),
)


def _build(entries: tuple[MethodEntry, ...]) -> dict[str, MethodEntry]:
    registry: dict[str, MethodEntry] = {}
    for entry in entries:
        if entry.id in registry:
            raise ValueError(f"duplicate method id {entry.id!r}")
        registry[entry.id] = entry
    return registry


@dataclass(frozen=True)
class ImportedEntry(MethodEntry):
    """A model imported with ``methods import`` (id ``imported:NAME``): its class is made from its card."""

    card: Any = field(default=None, compare=False)  # core.imported_models.ImportedCard (mutable: kept out of hash and ==)

    def load(self) -> type[Method[Any]]:
        from denoise_studio.methods.imported import method_class

        return method_class(self.card)


def _imported_entries() -> tuple[MethodEntry, ...]:
    """The models in the imported folder (reading their JSON cards only: no torch, no spandrel)."""
    from denoise_studio.core.imported_models import FAMILY, list_imported

    try:
        models = list_imported()
    except OSError:  # an unreadable user data folder hides the imported models, not the others
        return ()
    return tuple(ImportedEntry(m.card.method_id, m.card.title, FAMILY, "imported:ImportedModel", m.card) for m in models)


REGISTRY: dict[str, MethodEntry] = _build(_ENTRIES + _imported_entries())


def refresh_imported() -> None:
    """Scan the imported folder again (after an import or a removal, or a change of data folder)."""
    for method_id in [k for k, entry in REGISTRY.items() if isinstance(entry, ImportedEntry)]:
        del REGISTRY[method_id]
    REGISTRY.update(_build(_imported_entries()))


def import_model(path: str, name: str | None = None, licence: str = "") -> MethodEntry:
    """Import a model file (see ``methods/imported.py``) and return its new registry entry."""
    from denoise_studio.methods._common.spandrel_models import import_model_file

    card = import_model_file(path, name, licence)
    refresh_imported()
    return get_entry(card.method_id)


def remove_model(method_id: str) -> None:
    """Take an imported model out: its copy and card are deleted."""
    from denoise_studio.core.imported_models import remove_imported

    remove_imported(method_id)
    refresh_imported()


class UnknownMethodError(UserError, KeyError):
    """No method has this id."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_entry(method_id: str) -> MethodEntry:
    """The registry entry of ``method_id``; :class:`UnknownMethodError` lists the known ids."""
    if method_id not in REGISTRY and method_id.startswith("imported:"):
        refresh_imported()  # imported since this process started
    try:
        return REGISTRY[method_id]
    except KeyError:
        raise UnknownMethodError(f"unknown method {method_id!r}; known: {', '.join(REGISTRY)}") from None


def create_method(method_id: str) -> Method[Any]:
    """A new instance of the method registered as ``method_id``."""
    return get_entry(method_id).create()


def calibrate_costs() -> None:
    """Time this CPU for the cost estimates of the methods that scale by it (Deep Image Prior,
    NAS-DIP: ``_common/dip_speed.py``), unless done already. Half a second: call it from a worker
    thread."""
    from denoise_studio.methods._common import dip_speed

    dip_speed.ratio()


def is_network(method: Method[Any]) -> bool:
    """Whether ``method`` is a trained network (it has weights, a recipe and a Train dock entry)."""
    from denoise_studio.methods._common.network import NetworkMethod

    return isinstance(method, NetworkMethod)


def weights_choices(method: Method[Any]) -> list[tuple[str, str, str]] | None:
    """A network's weights as ``(name, label, card text)`` for a picker; ``None`` for other methods."""
    from denoise_studio.methods._common.network import NetworkMethod, weights_card_text

    if not isinstance(method, NetworkMethod):
        return None
    return [(entry.name, entry.label, weights_card_text(entry)) for entry in method.available_weights()]
