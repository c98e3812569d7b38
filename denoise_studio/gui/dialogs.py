"""Small dialogs and status texts of the window: noise, device, durations (the export dialog: export_dialog.py)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from denoise_studio.core.noise import NOISE_DESCRIPTIONS, NOISE_MODELS


def device_description(device: str) -> str:
    """``CPU · 2 threads``, ``CUDA: NVIDIA H100`` or ``MPS`` for the status bar."""
    import torch

    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return f"CUDA: {torch.cuda.get_device_name(index)}"
    if device == "mps":
        return "MPS (Apple GPU)"
    return f"CPU · {torch.get_num_threads()} threads"


def format_seconds(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class NoiseDialog(QDialog):
    """Model, σ and seed for "Add noise…"."""

    def __init__(self, parent: QWidget | None = None, model: str = "gaussian", sigma: float = 25.0, seed: int = 0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add noise")
        self.model = QComboBox()
        for name in NOISE_MODELS:
            self.model.addItem(name)
            self.model.setItemData(self.model.count() - 1, NOISE_DESCRIPTIONS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentText(model)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 255.0)
        self.sigma.setDecimals(1)
        self.sigma.setValue(sigma)
        self.sigma.setToolTip("Strength on the 0–255 scale (see each model's tooltip)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(seed)
        self.help = QLabel(NOISE_DESCRIPTIONS.get(model, ""))
        self.help.setWordWrap(True)
        self.model.currentTextChanged.connect(self._on_model)
        form = QFormLayout(self)
        form.addRow("Model", self.model)
        form.addRow("σ (0–255)", self.sigma)
        form.addRow("Seed", self.seed)
        form.addRow(self.help)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @Slot(str)
    def _on_model(self, name: str) -> None:
        self.help.setText(NOISE_DESCRIPTIONS.get(name, ""))
