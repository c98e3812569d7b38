"""The device and thread picker: kept in the settings, applied to runs, recorded in results."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PySide6.QtCore import QSettings

from denoise_studio.gui.device_picker import DEVICE_KEY, THREADS_KEY, DevicePicker
from denoise_studio.gui.results import compute_text
from denoise_studio.methods import create_method


def test_the_picker_lists_the_cpu_and_keeps_the_choice(qtbot, settings: QSettings) -> None:  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    try:
        picker = DevicePicker(settings)
        qtbot.addWidget(picker)
        assert picker.device_combo.findData("cpu") >= 0 and picker.device_combo.itemText(picker.device_combo.findData("cpu")) == "CPU"
        assert picker.threads_spin.maximum() >= 2  # the machine's cores, even where this process has fewer
        picker.set_choice("cpu", threads=2)
        assert torch.get_num_threads() == 2  # the next run's threads
        picker.set_choice(threads=1)
        assert torch.get_num_threads() == 1 and picker.threads_spin.text() == "1 thread"
        assert settings.value(DEVICE_KEY) == "cpu" and int(settings.value(THREADS_KEY)) == 1
        picker.set_choice(threads=2)
        again = DevicePicker(settings)
        qtbot.addWidget(again)
        assert again.device() == "cpu" and again.threads() == 2 and torch.get_num_threads() == 2
        settings.setValue(DEVICE_KEY, "cuda:7")  # a device gone since: the best one present instead
        third = DevicePicker(settings)
        qtbot.addWidget(third)
        assert third.device() == third.device_combo.itemData(0)
    finally:
        torch.set_num_threads(before)


def test_a_run_uses_the_picked_threads_and_its_sidecar_says_so(window, run_method, small_png: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    try:
        assert window.open_image(str(small_png))
        window.device_picker.set_choice("cpu", threads=1)
        assert window.device == "cpu"
        run_method("formresnet", params=create_method("formresnet").Params().replace(tile_size=64))
        result = window.results.all()[-1]
        assert result.info["threads"] == 1 and result.info["tile_size"] == 64
        assert compute_text(result) == "cpu, 1 threads, tiles of 64 px"
        out = window.exports.export_result(result.id, tmp_path / "r.png")
        assert out is not None
        compute = json.loads((tmp_path / "r.png.json").read_text())["compute"]
        assert compute == {"device": "cpu", "threads": 1, "tile_size": 64, "tiles": 4}
    finally:
        torch.set_num_threads(before)
