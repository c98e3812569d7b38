"""One dialog to export a result: where, in which format, at which bit depth (or JPEG/WebP quality).

It is Qt's own file dialog (not the platform's, which cannot take extra rows) with a bit-depth
list and a quality box under the file type. Both follow the format, whether it is chosen in the
file-type list or typed as the name's suffix; the depth offered first is the input's, as far as
the format holds it (``core.image.output_depth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QLineEdit, QSpinBox, QWidget

from denoise_studio.core.image import output_depth


@dataclass(frozen=True)
class ExportFormat:
    """A format the dialog offers: its name, suffixes, bit depths and the top of its quality scale."""

    name: str
    suffixes: tuple[str, ...]
    depths: tuple[int, ...]
    #: The highest quality (JPEG 100; WebP 101 = lossless); None for a lossless format.
    top_quality: int | None = None

    def name_filter(self) -> str:
        return f"{self.name} ({' '.join('*' + s for s in self.suffixes)})"


FORMATS = (
    ExportFormat("PNG image", (".png",), (8, 16)),
    ExportFormat("TIFF image", (".tif", ".tiff"), (8, 16, 32)),
    ExportFormat("JPEG image", (".jpg", ".jpeg"), (8,), top_quality=100),
    ExportFormat("WebP image", (".webp",), (8,), top_quality=101),
    ExportFormat("BMP image", (".bmp",), (8,)),
)
DEPTH_NAMES = {8: "8 bits", 16: "16 bits", 32: "32-bit float"}


def format_of(suffix: str) -> ExportFormat | None:
    return next((f for f in FORMATS if suffix.lower() in f.suffixes), None)


class ExportDialog(QFileDialog):
    """See the module docstring. Open it with ``open()``; on ``accepted`` read :meth:`chosen_path`,
    :meth:`bit_depth` and :meth:`quality`."""

    def __init__(self, parent: QWidget | None, path: str | Path, input_depth: int, title: str = "Export result") -> None:
        path = Path(path)
        super().__init__(parent, title, str(path.parent))
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setOption(QFileDialog.Option.DontConfirmOverwrite, True)  # the window asks, and protects the input
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setFileMode(QFileDialog.FileMode.AnyFile)
        self.setNameFilters([f.name_filter() for f in FORMATS])
        self.input_depth = input_depth
        self._wanted_depth = input_depth  # the input's, until the user picks another
        self._format = format_of(path.suffix) or FORMATS[0]
        self.depth_combo = QComboBox()
        self.depth_combo.setToolTip("Bits per sample of the file; the input's depth is offered first")
        self.depth_combo.activated.connect(self._on_depth_chosen)
        self.quality_spin = QSpinBox()
        self.quality_spin.setValue(95)
        self._add_rows()
        type_combo = self.findChild(QComboBox, "fileTypeCombo")
        if type_combo is not None:  # follows the list however it changes, not only by the user's click
            type_combo.currentIndexChanged.connect(self._on_type_index)
        else:
            self.filterSelected.connect(self._on_filter)
        self._name_edit = self.findChild(QLineEdit, "fileNameEdit")
        if self._name_edit is not None:
            self._name_edit.textEdited.connect(self._on_name_edited)
        self.set_format(self._format)
        self.selectFile(path.name)

    def _add_rows(self) -> None:
        grid = self.layout()
        self.depth_label, self.quality_label = QLabel("Bit depth:"), QLabel("Quality:")
        if isinstance(grid, QGridLayout):
            row = grid.rowCount()
            grid.addWidget(self.depth_label, row, 0)
            grid.addWidget(self.depth_combo, row, 1)
            grid.addWidget(self.quality_label, row + 1, 0)
            grid.addWidget(self.quality_spin, row + 1, 1)

    # -- the format and what follows it -----------------------------------------------------------

    def export_format(self) -> ExportFormat:
        return self._format

    def set_format(self, chosen: ExportFormat | str) -> None:
        """Choose a format (or the format of a suffix such as ``".tif"``); the depths follow."""
        found = format_of(chosen) if isinstance(chosen, str) else chosen
        if found is None:
            return
        self._format = found
        if self.selectedNameFilter() != found.name_filter():
            self.selectNameFilter(found.name_filter())
        self._fill_depths()
        self._rename_to_format()

    def depth_choices(self) -> list[int]:
        return [int(self.depth_combo.itemData(i)) for i in range(self.depth_combo.count())]

    def bit_depth(self) -> int:
        return int(self.depth_combo.currentData())

    def quality(self) -> int:
        return self.quality_spin.value()

    def chosen_path(self) -> Path | None:
        """The file to write, with the format's suffix; None before a name is given."""
        files = self.selectedFiles()
        if not files or not Path(files[0]).name:
            return None
        path = Path(files[0])
        return path if path.suffix.lower() in self._format.suffixes else path.with_name(path.name + self._format.suffixes[0])

    def _fill_depths(self) -> None:
        fmt = self._format
        self.depth_combo.clear()
        input_depth = output_depth(fmt.suffixes[0], self.input_depth)
        for depth in fmt.depths:
            self.depth_combo.addItem(DEPTH_NAMES[depth] + (" (as the input)" if depth == input_depth else ""), depth)
        wanted = output_depth(fmt.suffixes[0], self._wanted_depth)
        self.depth_combo.setCurrentIndex(max(self.depth_combo.findData(wanted), 0))
        self.depth_combo.setEnabled(len(fmt.depths) > 1)
        self.quality_spin.setRange(1, fmt.top_quality or 100)
        self.quality_spin.setToolTip("101: lossless WebP" if fmt.top_quality == 101 else "Compression quality (higher: larger file)")
        for widget in (self.quality_label, self.quality_spin):
            widget.setVisible(fmt.top_quality is not None)

    def _rename_to_format(self) -> None:
        """The typed name takes the format's suffix when it has another format's."""
        if self._name_edit is None:
            return
        name = Path(self._name_edit.text())
        if name.suffix and name.suffix.lower() not in self._format.suffixes and format_of(name.suffix) is not None:
            self._name_edit.setText(name.stem + self._format.suffixes[0])

    # -- slots ---------------------------------------------------------------------------------------

    @Slot(int)
    def _on_type_index(self, index: int) -> None:
        if 0 <= index < len(FORMATS) and FORMATS[index] is not self._format:
            self.set_format(FORMATS[index])

    @Slot(str)
    def _on_filter(self, name_filter: str) -> None:
        found = next((f for f in FORMATS if f.name_filter() == name_filter), None)
        if found is not None and found is not self._format:
            self.set_format(found)

    @Slot(str)
    def _on_name_edited(self, text: str) -> None:
        found = format_of(Path(text).suffix)
        if found is not None and found is not self._format:
            self.set_format(found)

    @Slot(int)
    def _on_depth_chosen(self, _index: int) -> None:
        self._wanted_depth = self.bit_depth()
