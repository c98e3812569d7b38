"""The method list, grouped by family, built from the registry.

A method that cannot run here (missing weights, a package not installed, a module that fails to
import) is listed greyed out, with the reason as its tooltip: the user sees that it exists and
why it is unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from denoise_studio.core.method import FAMILIES, Method
from denoise_studio.methods import REGISTRY, MethodEntry

_ID_ROLE = Qt.ItemDataRole.UserRole


@dataclass
class MethodChoice:
    """A registry entry with its loaded instance, or the reason it is unavailable."""

    entry: MethodEntry
    method: Method[Any] | None
    reason: str | None

    @property
    def available(self) -> bool:
        return self.method is not None and self.reason is None


def load_choices(registry: dict[str, MethodEntry] | None = None) -> dict[str, MethodChoice]:
    """Instantiate every registered method, recording why any cannot run."""
    choices: dict[str, MethodChoice] = {}
    for method_id, entry in (registry if registry is not None else REGISTRY).items():
        try:
            method = entry.create()
        except Exception as exc:  # noqa: BLE001 - an unimportable method is shown greyed, not fatal
            choices[method_id] = MethodChoice(entry, None, f"cannot be loaded: {exc}")
            continue
        try:
            reason = method.availability()
        except Exception as exc:  # noqa: BLE001
            reason = f"availability check failed: {exc}"
        choices[method_id] = MethodChoice(entry, method, reason)
    return choices


#: Why a method is greyed out while the registry's modules load behind the window (gui/loading.py).
LOADING_REASON = "the methods are still loading"


def placeholder_choices(registry: dict[str, MethodEntry] | None = None) -> dict[str, MethodChoice]:
    """Every registered method by name only, greyed out until :func:`load_choices` has run."""
    return {method_id: MethodChoice(entry, None, LOADING_REASON)
            for method_id, entry in (registry if registry is not None else REGISTRY).items()}


class MethodSelector(QWidget):
    """A tree: family → methods. Emits ``method_selected(id)`` when an available one is chosen."""

    method_selected = Signal(str)

    def __init__(self, choices: dict[str, MethodChoice], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices = choices
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._fill()
        self.tree.currentItemChanged.connect(self._on_current_changed)

    def reload(self) -> None:
        """List ``self.choices`` afresh (the methods finished loading after the window showed)."""
        self.tree.clear()
        self._items.clear()
        self._fill()

    def _fill(self) -> None:
        choices = self.choices
        families = list(FAMILIES) + sorted({c.entry.family for c in choices.values()} - set(FAMILIES))
        for family in families:
            members = [c for c in choices.values() if c.entry.family == family]
            if not members:
                continue
            group = QTreeWidgetItem([family])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.tree.addTopLevelItem(group)
            for choice in members:
                item = QTreeWidgetItem([choice.entry.title])
                item.setData(0, _ID_ROLE, choice.entry.id)
                if choice.available:
                    description = getattr(choice.method, "description", "") or choice.entry.title
                    item.setToolTip(0, f"{choice.entry.title} ({choice.entry.id})\n{description}")
                else:
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                    item.setToolTip(0, f"{choice.entry.title}: unavailable — {choice.reason}")
                group.addChild(item)
                self._items[choice.entry.id] = item
            group.setExpanded(True)
        # Seven rows at least (it scrolls on a small screen, where the curves need the height);
        # every method without scrolling where there is room.
        rows = len(self._items) + self.tree.topLevelItemCount()
        row_height = max(self.tree.sizeHintForRow(0) if self.tree.topLevelItemCount() else 18, 16)
        self.tree.setMinimumHeight(min(rows, 7) * row_height + 8)
        self.tree.setMaximumHeight(rows * row_height + 8)

    def refresh_availability(self, method_id: str) -> bool:
        """Ask the method again whether it can run (new weights were trained); True if it can."""
        item = self._items.get(method_id)
        choice = self.choices.get(method_id)
        if item is None or choice is None or choice.method is None:
            return False
        try:
            choice.reason = choice.method.availability()
        except Exception as exc:  # noqa: BLE001 - shown greyed, not fatal
            choice.reason = f"availability check failed: {exc}"
        if choice.available:
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            description = getattr(choice.method, "description", "") or choice.entry.title
            item.setToolTip(0, f"{choice.entry.title} ({choice.entry.id})\n{description}")
        else:
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            item.setToolTip(0, f"{choice.entry.title}: unavailable — {choice.reason}")
        return choice.available

    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, _ID_ROLE) if item is not None else None

    def select(self, method_id: str) -> bool:
        """Make ``method_id`` current; False if it is unknown or unavailable."""
        item = self._items.get(method_id)
        choice = self.choices.get(method_id)
        if item is None or choice is None or not choice.available:
            return False
        self.tree.setCurrentItem(item)
        return True

    def is_enabled(self, method_id: str) -> bool:
        item = self._items.get(method_id)
        return item is not None and bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)

    def tooltip(self, method_id: str) -> str:
        item = self._items.get(method_id)
        return item.toolTip(0) if item is not None else ""

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if current is None:
            return
        method_id = current.data(0, _ID_ROLE)
        if method_id:
            self.method_selected.emit(str(method_id))
