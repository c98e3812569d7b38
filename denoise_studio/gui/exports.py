"""Everything the window writes to disk on request: results with sidecars, the comparison, the curve.

:class:`Exports` holds the plain actions (``export_result``, ``export_all``,
``export_comparison``, ``export_curve``) that the tests and scripts call, and the File-menu
dialogs that ask for a path first. No export ever overwrites the input or the reference, and
every other existing file is replaced only after a question.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QRect, Qt, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMessageBox

from denoise_studio.core.export import export_name, export_result
from denoise_studio.core.image import ImageError, save_image, write_text_atomically
from denoise_studio.gui.curve_figure import render_figure
from denoise_studio.gui.export_dialog import ExportDialog

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

EXPORT_FILTERS = "PNG image (*.png);;TIFF image (*.tif *.tiff);;JPEG image (*.jpg *.jpeg)"
#: The comparison's labels: this size when they fit on one line, down to the smallest, then wrapped.
LABEL_PIXELS, SMALLEST_LABEL_PIXELS = 18, 11
LABEL_MARGIN = 6


def fit_label(label: str, width: int) -> tuple[QFont, int, int]:
    """The font, the drawing flags and the height that show ``label`` whole in ``width`` pixels:
    one line at the largest size that fits, else wrapped at the smallest size (never cut)."""
    font = QFont()
    font.setBold(True)
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    for pixels in range(LABEL_PIXELS, SMALLEST_LABEL_PIXELS - 1, -1):
        font.setPixelSize(pixels)
        if QFontMetrics(font).horizontalAdvance(label) <= width:
            return font, flags, QFontMetrics(font).height()
    metrics = QFontMetrics(font)
    words_fit = all(metrics.horizontalAdvance(word) <= width for word in label.split())
    flags |= int(Qt.TextFlag.TextWordWrap if words_fit else Qt.TextFlag.TextWrapAnywhere)
    return font, flags, metrics.boundingRect(QRect(0, 0, max(width, 1), 100_000), flags, label).height()


class Exports(QObject):
    """The window's exports; see the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.export_dialog: ExportDialog | None = None  # open while a result's export is being chosen
        self._exported_id: int | None = None

    # -- checks ---------------------------------------------------------------------------

    def _check_target(self, path: Path) -> bool:
        """Refuse the input and the reference; ask before replacing any other existing file."""
        for protected in self.window.session.protected_paths():
            if path.exists() and Path(protected).exists() and os.path.samefile(path, protected):
                self.window.show_error(f"{path}: refusing to overwrite the input image; choose another name.", "Export")
                return False
        return not path.exists() or self.confirm_overwrite(path)

    def confirm_overwrite(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self.window, "Overwrite?", f"{path.name} already exists in {path.parent}.\nReplace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    # -- actions --------------------------------------------------------------------------

    def export_result(self, entry_id: int, path: str | os.PathLike[str], bit_depth: int | None = None, jpeg_quality: int = 95) -> Path | None:
        """Write one result and its sidecar (``path`` + ``.json``); None if refused or failed.

        ``bit_depth``: the input's unless given (as far as the format holds it)."""
        result = self.window.results.get(entry_id)
        target = Path(os.fspath(path))
        if not self._check_target(target):
            return None
        source = self.window.session.input_data
        if bit_depth is None:
            bit_depth = self.input_depth()
        try:
            export_result(result, target, bit_depth=bit_depth, jpeg_quality=jpeg_quality,
                          protected=self.window.session.protected_paths(), metadata=source.metadata if source is not None else None)
        except (ImageError, OSError) as exc:
            self.window.show_error(str(exc), "Export failed")
            return None
        self.window.remember_folder(str(target))
        self.window.statusBar().showMessage(f"Exported {target.name} (+ sidecar)", 6000)
        return target

    def input_depth(self) -> int:
        """The bit depth of the open image (8, 16, or 32 for a float TIFF)."""
        source = self.window.session.input_data
        return source.bit_depth if source is not None else 8

    def export_all(self, folder: str | os.PathLike[str], suffix: str = ".png", bit_depth: int | None = None, jpeg_quality: int = 95) -> list[Path]:
        """Export every result into ``folder`` as ``<input>_<id>_<method><suffix>``."""
        written = []
        for result in self.window.results.all():
            target = Path(os.fspath(folder)) / export_name(self.window.session.source, result, suffix)
            out = self.export_result(result.id, target, bit_depth=bit_depth, jpeg_quality=jpeg_quality)
            if out is not None:
                written.append(out)
        return written

    def comparison_image(self) -> np.ndarray:
        """The viewer's A and B (and a third pane) side by side, labelled, as an RGB float image;
        a long name takes a smaller font or more lines, never a cut (:func:`fit_label`)."""
        images = self.window.viewer.images()
        if not images:
            raise ImageError("nothing to compare")
        gap = 8
        labels = [fit_label(label, img.shape[1] - 2 * LABEL_MARGIN) for label, img in images]
        label_h = max(34, max(height for _, _, height in labels) + 2 * LABEL_MARGIN)
        height = max(img.shape[0] for _, img in images)
        width = sum(img.shape[1] for _, img in images) + gap * (len(images) - 1)
        canvas = QImage(width, height + label_h, QImage.Format.Format_RGB888)
        canvas.fill(QColor("#1b1d23"))
        painter = QPainter(canvas)
        painter.setPen(QColor("#dfe3ea"))
        x = 0
        for (label, img), (font, flags, _) in zip(images, labels):
            eight = np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
            if eight.shape[2] == 1:
                eight = np.ascontiguousarray(np.repeat(eight, 3, axis=2))
            qimg = QImage(eight.data, eight.shape[1], eight.shape[0], eight.strides[0], QImage.Format.Format_RGB888)
            painter.drawImage(x, label_h, qimg)
            painter.setFont(font)
            painter.drawText(x + LABEL_MARGIN, 0, img.shape[1] - 2 * LABEL_MARGIN, label_h, flags, label)
            x += img.shape[1] + gap
        painter.end()
        return _rgb_array(canvas)

    def export_comparison(self, path: str | os.PathLike[str]) -> Path | None:
        """Write the labelled side-by-side comparison of what the viewer shows."""
        target = Path(os.fspath(path))
        if not self._check_target(target):
            return None
        try:
            return save_image(target, self.comparison_image(), protected=self.window.session.protected_paths())
        except (ImageError, OSError) as exc:
            self.window.show_error(str(exc), "Export failed")
            return None

    def export_curve(self, path: str | os.PathLike[str]) -> tuple[Path, Path] | None:
        """Write the curve as CSV (``path``) and as a PNG picture beside it."""
        curve = self.window.curve
        csv_path = Path(os.fspath(path)).with_suffix(".csv")
        png_path = csv_path.with_suffix(".png")
        if not curve.has_data():
            self.window.show_error("There is no curve to export yet (run an iterative method first).", "Export curve")
            return None
        if not all(self._check_target(target) for target in (csv_path, png_path)):
            return None
        try:
            write_text_atomically(csv_path, curve.to_csv())
            title = f"{curve.title or 'Iteration curve'} — {Path(self.window.session.source or 'image').name}"
            picture = render_figure(curve.series(), curve.styles(), curve.events(), title, curve.cursor_step())
            save_image(png_path, _rgb_array(picture), protected=self.window.session.protected_paths())
        except (ImageError, OSError) as exc:
            self.window.show_error(str(exc), "Export failed")
            return None
        return csv_path, png_path

    # -- dialogs (File menu) --------------------------------------------------------------

    def _ask_save_path(self, title: str, default_name: str, filters: str = EXPORT_FILTERS) -> str | None:
        path, _ = QFileDialog.getSaveFileName(
            self.window, title, str(Path(self.window.last_folder()) / default_name), filters,
            options=QFileDialog.Option.DontConfirmOverwrite,  # we ask ourselves, and protect the input
        )
        return path or None

    @Slot()
    def export_selected_dialog(self) -> None:
        self.export_ids_dialog(self.window.results.selected_ids())

    @Slot(list)
    def export_ids_dialog(self, ids: list[int]) -> None:
        if not ids:
            self.window.show_error("Select a result in the Results list first.", "Export")
            return
        if len(ids) > 1:
            folder = QFileDialog.getExistingDirectory(self.window, "Export the selected results into…", self.window.last_folder())
            for entry_id in ids if folder else []:
                result = self.window.results.get(entry_id)
                self.export_result(entry_id, Path(folder) / export_name(None, result))
            return
        self.open_export_dialog(ids[0])

    def open_export_dialog(self, entry_id: int) -> ExportDialog:
        """One dialog for the file, its format and bit depth; the export happens when it is accepted."""
        result = self.window.results.get(entry_id)
        default = Path(self.window.last_folder()) / export_name(None, result)
        dialog = ExportDialog(self.window, default, self.input_depth())
        dialog.accepted.connect(self._on_export_dialog_accepted)
        dialog.rejected.connect(self._forget_export_dialog)
        self.export_dialog, self._exported_id = dialog, entry_id
        dialog.open()
        return dialog

    @Slot()
    def _on_export_dialog_accepted(self) -> None:
        dialog, entry_id = self.export_dialog, self._exported_id
        if dialog is None or entry_id is None:
            return
        path = dialog.chosen_path()
        if path is not None:
            self.export_result(entry_id, path, bit_depth=dialog.bit_depth(), jpeg_quality=dialog.quality())
        self._forget_export_dialog()

    @Slot()
    def _forget_export_dialog(self) -> None:
        if self.export_dialog is not None:
            self.export_dialog.deleteLater()
        self.export_dialog, self._exported_id = None, None

    @Slot()
    def export_all_dialog(self) -> None:
        if not self.window.results.count():
            self.window.show_error("There are no results to export yet.", "Export all")
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Export all results into…", self.window.last_folder())
        if folder:
            written = self.export_all(folder)
            self.window.statusBar().showMessage(f"Exported {len(written)} results to {folder}", 8000)

    @Slot()
    def export_comparison_dialog(self) -> None:
        path = self._ask_save_path("Export comparison", "comparison.png")
        if path:
            self.export_comparison(path)

    @Slot()
    def export_curve_dialog(self) -> None:
        path = self._ask_save_path("Export curve (CSV, plus a PNG beside it)", "curve.csv", "CSV (*.csv)")
        if path:
            self.export_curve(path)


def _rgb_array(image: QImage) -> np.ndarray:
    """An RGB888 QImage as an H×W×3 float32 array in [0, 1]."""
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(np.float32) / 255.0
