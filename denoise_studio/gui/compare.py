"""What the viewer compares: images A and B by key, the A/B pickers above the results list.

A key is ``input`` (the image the methods run on), ``reference`` or ``result:ID``. Next to the
result of a region run, full-size images are cropped to that region so both sides match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel

from denoise_studio.core.result import Region, crop
from denoise_studio.gui.elided import ElidedComboBox

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

INPUT = "input"
REFERENCE = "reference"
INPUT_LABEL = "Noisy input"
REFERENCE_LABEL = "Reference"


def result_key(result_id: int) -> str:
    return f"result:{result_id}"


class Compare(QObject):
    """The keys of A and B, the pickers that choose them, and what the viewer is given."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.a_key: str = INPUT
        self.b_key: str | None = None
        # Long names are elided with "…" and said whole in the tooltip: the pickers never widen the dock.
        self.a_combo = ElidedComboBox("Image A of the compare modes")
        self.b_combo = ElidedComboBox("Image B of the compare modes")
        self.a_combo.activated.connect(self._on_combo)
        self.b_combo.activated.connect(self._on_combo)

    def row(self) -> QHBoxLayout:
        """The A and B pickers as a row for the results dock."""
        row = QHBoxLayout()
        row.setContentsMargins(4, 4, 4, 0)
        row.addWidget(QLabel("A"))
        row.addWidget(self.a_combo, 1)
        row.addWidget(QLabel("B"))
        row.addWidget(self.b_combo, 1)
        return row

    def set_keys(self, a_key: str, b_key: str | None) -> None:
        self.a_key, self.b_key = a_key, b_key

    def forget(self, result_id: int) -> None:
        """A result was removed: whichever side showed it goes back to the input or reference."""
        key = result_key(result_id)
        if self.a_key == key:
            self.a_key = INPUT
        if self.b_key == key:
            self.b_key = REFERENCE if self.window.session.reference is not None else None

    # -- what is shown --------------------------------------------------------------------

    def input_label(self) -> str:
        """"Noisy input" when there is a clean counterpart (added noise or a reference), else "Input"."""
        session = self.window.session
        return INPUT_LABEL if session.reference is not None or session.noise else "Input"

    def image_for(self, key: str | None) -> tuple[str, np.ndarray] | None:
        session = self.window.session
        if key == INPUT and session.noisy is not None:
            return self.input_label(), session.noisy
        if key == REFERENCE and session.reference is not None:
            return REFERENCE_LABEL, session.reference
        if key and key.startswith("result:"):
            result = self.window.results.entries.get(int(key.split(":")[1]))
            if result is not None:
                return result.label, result.image
        return None

    def region_of(self, key: str | None) -> Region | None:
        if key and key.startswith("result:"):
            result = self.window.results.entries.get(int(key.split(":")[1]))
            if result is not None:
                return result.region
        return None

    def images(self) -> tuple[list[tuple[str, np.ndarray]], Region | None]:
        """A and B (and the reference as a third pane beside two others), cut to a region run's region."""
        session = self.window.session
        images = [item for item in (self.image_for(self.a_key), self.image_for(self.b_key)) if item is not None]
        if session.reference is not None and REFERENCE not in (self.a_key, self.b_key) and len(images) == 2:
            images.append((REFERENCE_LABEL, session.reference))
        region = self.region_of(self.b_key) or self.region_of(self.a_key)
        if region is not None and session.noisy is not None:
            full = session.noisy.shape
            images = [(label, crop(img, region) if img.shape == full else img) for label, img in images]  # type: ignore[misc]
        return images, region

    def fill_combos(self) -> None:
        session = self.window.session
        options = [(INPUT, self.input_label())]  # the same name as the viewer's header
        if session.reference is not None:
            options.append((REFERENCE, REFERENCE_LABEL))
        options += [(result_key(r.id), r.label) for r in self.window.results.all()]
        for combo, key in ((self.a_combo, self.a_key), (self.b_combo, self.b_key)):
            combo.blockSignals(True)
            combo.clear()
            if combo is self.b_combo:
                combo.add_name("(none)", None)
            for k, label in options:
                combo.add_name(label, k)
            combo.setCurrentIndex(max(combo.findData(key), 0))
            combo.blockSignals(False)
            combo.refresh_tooltip()

    @Slot(int)
    def _on_combo(self, _index: int) -> None:
        self.window.compare(self.a_combo.currentData() or INPUT, self.b_combo.currentData())
