"""File → Import model…: a model file of a public architecture becomes a method of the window.

The import itself is the registry's ``import_model`` (``methods/imported.py``, the same as
``denoise-studio methods import``); here a file dialog asks for the file, a refusal (a
super-resolution model, an unknown architecture, a corrupt file, spandrel not installed) is shown
in the usual error box, and a success adds the model to the method list (family "Imported") and
selects it. It runs in the UI thread: reading a model file and one timing pass on a small tile
take about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from denoise_studio.core.errors import UserError
from denoise_studio.gui.method_selector import MethodChoice

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

MODEL_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors);;All files (*)"


class ModelImport(QObject):
    """The File menu's "Import model…" and what it does to the window's method list."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    @Slot()
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import a denoising model", self.window.last_folder(), MODEL_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str, name: str | None = None) -> str | None:
        """Import ``path`` and list it; the new method id, or ``None`` after an error box."""
        from denoise_studio.methods import import_model

        try:
            entry = import_model(path, name)
            method = entry.create()
        except UserError as exc:
            self.window.show_error(f"The model was not imported: {exc}")
            return None
        window = self.window
        window.choices[entry.id] = MethodChoice(entry, method, method.availability())
        window.method_dock.selector.reload()
        window.train_dock.set_choices(window.choices)
        window.method_dock.select(entry.id)
        window.statusBar().showMessage(f"Imported {entry.title} as {entry.id}", 5000)
        return entry.id
