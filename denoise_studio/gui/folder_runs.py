"""The results list's "Apply to folder": a result's method, parameters and seed on a folder.

The walk itself is ``core/batch.py`` (the command line's ``denoise DIR`` uses it too); it runs in
a :class:`~denoise_studio.gui.worker.BatchWorker`, with the progress bar, the status bar's Stop (which
lets the current file finish; Cancel does not apply, the files written stay) and a summary that
lists every file that failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow


class FolderRuns(QObject):
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def apply_to_folder(self, result_id: int, inputs: str | Path, out_dir: str | Path) -> bool:
        """Run a result's method, parameters and seed on every image of ``inputs`` (a folder or a
        glob) into ``out_dir``, in the background (core/batch.py); False with a message if not."""
        from denoise_studio.core.batch import list_inputs
        from denoise_studio.gui.worker import BatchWorker

        busy = self.window.runs.busy_reason()
        if busy is not None:
            self.window.statusBar().showMessage(busy, 5000)
            return False
        result = self.window.results.get(result_id)
        choice = self.window.choices.get(result.method_id)
        if choice is None or choice.method is None or result.params is None or not choice.available:
            self.window.show_error(f"{result.label} cannot be applied to a folder: its method is not available here.", "Apply to folder")
            return False
        files = list_inputs(inputs)
        if not files:
            self.window.show_error(f"{inputs}: no images there.", "Apply to folder")
            return False
        batch = BatchWorker(type(choice.method)(), files, Path(out_dir), result.params, seed=result.seed, device=self.window.device)
        batch.progressed.connect(self.window.run_view.on_batch_progress)
        batch.returned.connect(self.window.run_view.on_batch_returned)
        batch.errored.connect(self.window.run_view.on_errored)
        self.window.run_view.batch_total = len(files)
        self.window.run_view.started(f"{result.method_title} on {len(files)} images", iterative=False, folder=True)
        self.window.progress.setRange(0, len(files))
        self.window.runs.start_batch(batch)
        return True

    @Slot(int)
    def ask_and_apply(self, result_id: int) -> None:
        """Ask for the folder of images, then for where to write, and start."""
        from PySide6.QtWidgets import QFileDialog

        source = QFileDialog.getExistingDirectory(self.window, "Apply to the images of…", self.window.last_folder())
        if not source:
            return
        target = QFileDialog.getExistingDirectory(self.window, "Write the results into…", source)
        if target:
            self.apply_to_folder(result_id, source, target)
