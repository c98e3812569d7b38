"""Issue 17: one export dialog with the format and the bit depth in it (no second dialog).

The dialog is driven as an object, never shown modally."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core.image import load_image, save_image
from denoise_studio.gui.export_dialog import ExportDialog


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> ExportDialog:
    box = ExportDialog(None, tmp_path / "result_1_nlm.png", input_depth=16)
    qtbot.addWidget(box)
    return box


def test_depths_follow_the_format(dialog: ExportDialog) -> None:
    assert dialog.testOption(dialog.Option.DontUseNativeDialog)
    assert dialog.export_format().name == "PNG image"
    assert dialog.depth_choices() == [8, 16] and dialog.bit_depth() == 16  # the input's depth first
    assert "as the input" in dialog.depth_combo.currentText()
    assert not dialog.quality_spin.isVisibleTo(dialog)
    dialog.selectNameFilter("TIFF image (*.tif *.tiff)")  # as a click in the file-type list does
    assert dialog.depth_choices() == [8, 16, 32] and dialog.bit_depth() == 16
    dialog.set_format(".jpg")
    assert dialog.depth_choices() == [8] and dialog.bit_depth() == 8
    assert dialog.quality_spin.isVisibleTo(dialog) and dialog.quality_spin.maximum() == 100
    dialog.set_format(".webp")
    assert dialog.depth_choices() == [8] and dialog.quality_spin.maximum() == 101


def test_a_typed_suffix_chooses_the_format_and_a_chosen_depth_is_kept(dialog: ExportDialog, tmp_path: Path) -> None:
    name_edit = dialog._name_edit
    assert name_edit is not None
    name_edit.setText("mine.tif")
    name_edit.textEdited.emit("mine.tif")  # as typing does
    assert dialog.export_format().name == "TIFF image"
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(32))
    dialog.depth_combo.activated.emit(dialog.depth_combo.currentIndex())
    dialog.set_format(".png")  # PNG holds no float: the nearest it holds
    assert dialog.bit_depth() == 16
    assert name_edit.text() == "mine.png"  # the name follows the format
    dialog.set_format(".tiff")
    assert dialog.bit_depth() == 32
    dialog.selectFile("plain")
    assert dialog.chosen_path() == tmp_path / "plain.tif"


def test_the_window_exports_through_one_dialog(window, run_method, tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).random((40, 40, 3)).astype(np.float32)
    source = tmp_path / "deep.png"
    save_image(source, pixels, bit_depth=16)
    assert window.open_image(str(source))
    run_method("gaussian")
    entry = window.results.all()[0]
    dialog = window.exports.open_export_dialog(entry.id)
    assert dialog.bit_depth() == 16
    dialog.set_format(".tif")
    dialog.selectFile(str(tmp_path / "out.tif"))
    dialog.accept()
    written = load_image(tmp_path / "out.tif")
    assert written.bit_depth == 16 and (tmp_path / "out.tif.json").exists()
    assert window.exports.export_dialog is None  # done with, and deleted
