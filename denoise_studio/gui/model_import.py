"""File → Import model…: a model file of a public architecture becomes a method of the window.

The import itself is the registry's ``import_model`` (``methods/imported.py``, the same as
``denoise-studio methods import``); here a file dialog asks for the file, a refusal (a
super-resolution model, an unknown architecture, a corrupt file, spandrel not installed) is shown
in the usual error box, and a success adds the model to the method list (family "Imported") and
selects it. From the dialog the import runs in a worker thread (hashing and copying the file,
building the network and timing it can take many seconds for a large model); scripts and tests
call :meth:`ModelImport.import_file`, which waits.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from denoise_studio.core.errors import UserError
from denoise_studio.gui.loading import CallWorker
from denoise_studio.gui.method_selector import MethodChoice

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

MODEL_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors);;All files (*)"


class ModelImport(QObject):
    """The File menu's "Import model…" and what it does to the window's method list."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.worker: CallWorker | None = None

    @Slot()
    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import a denoising model", self.window.last_folder(), MODEL_FILTER)
        if path:
            self.start(path)

    def start(self, path: str, name: str | None = None) -> bool:
        """Import ``path`` in a worker thread; the model is listed when it is ready (False: one is already under way)."""
        if self.worker is not None or self.window.method_loading.is_loading():
            # (while the methods load, the list they fill would not have the new model)
            self.window.show_error("A model is being imported, or the methods are still loading: wait for them to finish.")
            return False
        worker = self.worker = CallWorker(partial(_import, path, name), "import-model")
        worker.returned.connect(self._on_returned)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        self.window.statusBar().showMessage(f"Importing {Path(path).name}…")
        worker.start()
        return True

    def import_file(self, path: str, name: str | None = None) -> str | None:
        """Import ``path`` now (waiting) and list it; the new method id, or ``None`` after an error box."""
        try:
            entry, method = _import(path, name)
        except UserError as exc:
            self._on_failed(exc)
            return None
        return self._list(entry, method)

    def wait(self) -> None:
        """Block until an import under way has ended (on close, and in tests)."""
        if self.worker is not None:
            self.worker.wait()

    @Slot(object)
    def _on_returned(self, imported: tuple[Any, Any]) -> None:
        self._list(*imported)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        self.window.show_error(f"The model was not imported: {reason}")

    @Slot()
    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()
            self.worker = None

    def _list(self, entry: Any, method: Any) -> str:
        window = self.window
        window.choices[entry.id] = MethodChoice(entry, method, method.availability())
        window.method_dock.selector.reload()
        window.train_dock.set_choices(window.choices)
        window.method_dock.select(entry.id)
        window.statusBar().showMessage(f"Imported {entry.title} as {entry.id}", 5000)
        return str(entry.id)


def _import(path: str, name: str | None) -> tuple[Any, Any]:
    """The registry's import and the method made from it (in a worker thread, no Qt)."""
    from denoise_studio.methods import import_model

    entry = import_model(path, name)
    return entry, entry.create()
