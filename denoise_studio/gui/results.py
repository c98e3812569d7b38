"""The results list: every finished run, with its parameters, time, metrics and a thumbnail.

Entries belong to the session, not to a method: switching methods keeps them. Any two can be
compared in the viewer; any can be exported (with its sidecar). "Best first" orders them by
their PSNR estimated without a reference (``Result.estimate``), so it works on a real photo.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core.result import Result, short_value

THUMB = 72
_ID_ROLE = Qt.ItemDataRole.UserRole


def thumbnail(image: np.ndarray, size: int = THUMB) -> QPixmap:
    """A small square-bounded pixmap of an H×W×C float image."""
    h, w = image.shape[:2]
    step = max(1, int(math.ceil(max(h, w) / (size * 2))))
    small = np.clip(image[::step, ::step], 0, 1)
    eight = np.ascontiguousarray((small * 255 + 0.5).astype(np.uint8))
    if eight.shape[2] == 1:
        eight = np.ascontiguousarray(np.repeat(eight, 3, axis=2))
    qimage = QImage(eight.data, eight.shape[1], eight.shape[0], eight.strides[0], QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class ResultsPanel(QWidget):
    """The list of results with Compare, Export and Remove buttons.

    Signals
    -------
    show_requested(int)
        Show this entry against the input (double click).
    compare_requested(int, int)
        Compare these two entries (A, B).
    export_requested(list)
        Export these entry ids.
    apply_requested(int)
        Apply this result's method and parameters to a folder of images.
    """

    show_requested = Signal(int)
    compare_requested = Signal(int, int)
    export_requested = Signal(list)
    apply_requested = Signal(int)
    removed = Signal(int)

    def __init__(self, store: dict[int, Result] | None = None, parent: QWidget | None = None) -> None:
        """``store``: the dictionary the results are kept in (the session's), a new one by default."""
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setSpacing(2)
        self.list.setWordWrap(True)
        self.list.setToolTip("Double-click: show against the input. Select two and press Compare.")
        self.list.itemDoubleClicked.connect(self._on_double_clicked)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Compare the two selected results (or the selected one with the input)")
        self.compare_button.clicked.connect(self._on_compare)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._on_export)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._on_remove)
        self.apply_button = QPushButton("Apply to folder…")
        self.apply_button.setToolTip("Run the selected result's method, parameters and seed on every image of a folder")
        self.apply_button.clicked.connect(self._on_apply)
        self.sort_button = QPushButton("Best first")
        self.sort_button.setToolTip("Order the results by their estimated PSNR (no reference needed), best at the top")
        self.sort_button.clicked.connect(self.sort_by_estimate)
        buttons = QHBoxLayout()
        for b in (self.compare_button, self.export_button, self.remove_button):
            buttons.addWidget(b)
        second = QHBoxLayout()
        second.addWidget(self.apply_button)
        second.addWidget(self.sort_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addLayout(second)
        self.entries: dict[int, Result] = store if store is not None else {}
        self._update_buttons()

    def add(self, entry: Result) -> None:
        """Append an entry and select it."""
        self.entries[entry.id] = entry
        item = self._append(entry)
        self.list.clearSelection()
        item.setSelected(True)
        self.list.setCurrentItem(item)
        self._update_buttons()

    def set_store(self, store: dict[int, Result]) -> None:
        """Show the results of another input (its own dictionary, kept by the session)."""
        self.list.clear()
        self.entries = store
        for result in store.values():
            self._append(result)
        self._update_buttons()

    def _append(self, entry: Result) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(thumbnail(entry.image)), entry.summary())
        item.setData(_ID_ROLE, entry.id)
        item.setToolTip(self._tooltip(entry))
        self.list.addItem(item)
        return item

    def refresh(self, entry_id: int) -> None:
        """Redraw an entry's text and tooltip (its estimate arrived after it was added)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_ID_ROLE) == entry_id:
                entry = self.entries[entry_id]
                item.setText(entry.summary())
                item.setToolTip(self._tooltip(entry))

    @Slot()
    def sort_by_estimate(self) -> None:
        """Order the list by estimated PSNR, highest first; results without one go last, in their order."""
        selected = self.selected_ids()
        ordered = sorted(self.all(), key=lambda r: -(r.estimate.psnr if r.estimate is not None and r.estimate.psnr is not None else -math.inf))
        self.list.clear()
        for result in ordered:
            self._append(result)
        self.select(selected)

    def count(self) -> int:
        return len(self.entries)

    def get(self, entry_id: int) -> Result:
        return self.entries[entry_id]

    def all(self) -> list[Result]:
        return [self.entries[self.list.item(i).data(_ID_ROLE)] for i in range(self.list.count())]

    def selected_ids(self) -> list[int]:
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        return [self.list.item(r).data(_ID_ROLE) for r in rows]

    def select(self, ids: list[int]) -> None:
        self.list.clearSelection()
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(_ID_ROLE) in ids:
                item.setSelected(True)

    def remove(self, entry_id: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(_ID_ROLE) == entry_id:
                self.list.takeItem(i)
                break
        self.entries.pop(entry_id, None)
        self.removed.emit(entry_id)
        self._update_buttons()

    @staticmethod
    def _tooltip(entry: Result) -> str:
        lines = [entry.label, f"method: {entry.method_id}", f"seed: {entry.seed}, device: {compute_text(entry)}",
                 f"time: {entry.elapsed:.2f} s"]
        if entry.params is not None:
            chosen = entry.chosen()
            lines += [f"{k} = {short_value(chosen[k])} (auto)" if k in chosen else f"{k} = {short_value(v)}" for k, v in entry.params.to_dict().items()]
        if entry.estimate is not None:
            lines.append(f"est. PSNR: {entry.estimate.text()}" if entry.estimate.valid else f"est. PSNR: none ({entry.estimate.reason})")
        if entry.input_source:
            lines.append(f"input: {entry.input_source}")
        return "\n".join(lines)

    @Slot()
    def _update_buttons(self) -> None:
        n = len(self.list.selectedItems())
        self.compare_button.setEnabled(n in (1, 2))
        self.export_button.setEnabled(n >= 1)
        self.remove_button.setEnabled(n >= 1)
        self.apply_button.setEnabled(n == 1)

    @Slot(QListWidgetItem)
    def _on_double_clicked(self, item: QListWidgetItem) -> None:
        self.show_requested.emit(int(item.data(_ID_ROLE)))

    @Slot()
    def _on_compare(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.compare_requested.emit(ids[0], ids[1])
        elif len(ids) == 1:
            self.show_requested.emit(ids[0])

    @Slot()
    def _on_export(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.export_requested.emit(ids)

    @Slot()
    def _on_apply(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.apply_requested.emit(ids[0])

    @Slot()
    def _on_remove(self) -> None:
        for entry_id in self.selected_ids():
            self.remove(entry_id)


def compute_text(result: Result) -> str:
    """``cpu, 2 threads, tiles of 256 px``: where a result was computed, as its sidecar says."""
    from denoise_studio.core.sidecar import compute_record

    compute = compute_record(result.device, result.info)
    parts = [compute["device"]]
    if "threads" in compute:
        parts.append(f"{compute['threads']} threads")
    if "tile_size" in compute:
        parts.append(f"tiles of {compute['tile_size']} px" if compute.get("tiles", 1) > 1 else "the whole image in one tile")
    return ", ".join(parts)
