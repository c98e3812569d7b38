"""The metrics dock: PSNR and SSIM, and a difference heatmap with a colour bar.

With a reference: PSNR/SSIM of the result against it (and of the noisy input, for the gain), and
a heatmap of result − reference. Without one: a heatmap of noisy − result ("what was removed")
and no-reference noise estimates. In both cases "est. PSNR": the PSNR estimated without the
reference (Monte-Carlo SURE, ``core/quality.py``) with its spread over two probes, or "—" with
the reason in its tooltip. The heatmap's levels are fixed and symmetric, so a colour
means the same at every iteration. Everything here is computed in the worker; this only paints.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from denoise_studio.core.quality import QualityEstimate

HEATMAP_COLORMAP = "CET-D1"
HEATMAP_RANGE = 25.0  # ± on the 0–255 scale


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}{unit}"


class MetricsView(QWidget):
    """PSNR / SSIM labels and the difference heatmap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        big = "font-size: 20px; font-weight: 600;"
        self.psnr_label = QLabel("—")
        self.psnr_label.setStyleSheet(big)
        self.psnr_label.setObjectName("psnr")
        self.ssim_label = QLabel("—")
        self.ssim_label.setStyleSheet(big)
        self.ssim_label.setObjectName("ssim")
        self.estimate_label = QLabel("—")
        self.estimate_label.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.estimate_label.setObjectName("estimated_psnr")
        self.baseline_label = QLabel("")
        self.baseline_label.setWordWrap(True)
        self.baseline_label.setStyleSheet("color: #9aa4b2;")
        self.sigma_label = QLabel("")
        self.sigma_label.setWordWrap(True)
        self.sigma_label.setStyleSheet("color: #9aa4b2;")
        grid = QGridLayout()
        grid.addWidget(QLabel("PSNR"), 0, 0)
        grid.addWidget(self.psnr_label, 1, 0)
        grid.addWidget(QLabel("SSIM"), 0, 1)
        grid.addWidget(self.ssim_label, 1, 1)
        self.estimate_title = QLabel("est. PSNR")
        self.estimate_title.setToolTip("PSNR estimated from the noisy input alone (Monte-Carlo SURE), ± half the spread of two probes")
        # One row under PSNR and SSIM, title and value side by side: a third column would widen
        # the dock, and two rows would make the right column too tall for a 768-pixel screen.
        grid.addWidget(self.estimate_title, 2, 0)
        grid.addWidget(self.estimate_label, 2, 1)

        self.heatmap_title = QLabel("Difference")
        self.heatmap_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(120)
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.heatmap)
        self.colorbar = pg.ColorBarItem(
            values=(-HEATMAP_RANGE, HEATMAP_RANGE), colorMap=pg.colormap.get(HEATMAP_COLORMAP),
            interactive=False, width=12,
        )
        self.colorbar.setImageItem(self.heatmap)
        self.graphics.addItem(self.colorbar, row=0, col=1)

        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.baseline_label)
        layout.addWidget(self.sigma_label)
        layout.addWidget(self.heatmap_title)
        layout.addWidget(self.graphics, 1)
        self._has_heatmap = False

    def clear(self) -> None:
        self.psnr_label.setText("—")
        self.ssim_label.setText("—")
        self.set_estimate(None)
        self.sigma_label.setText("")
        self.heatmap.clear()
        self._has_heatmap = False

    def set_baseline(self, psnr: float | None, ssim: float | None, sigma_estimate: float | None = None) -> None:
        """The noisy input's own scores (against the reference), or its σ estimate without one."""
        if psnr is not None:
            self.baseline_label.setText(f"Noisy input: {_fmt(psnr, ' dB')}, SSIM {_fmt(ssim, '', 3)}")
        elif sigma_estimate is not None:
            self.baseline_label.setText(f"No reference. Estimated noise σ of the input: {sigma_estimate:.1f} (0–255)")
        else:
            self.baseline_label.setText("No reference")

    def set_metrics(self, psnr: float | None, ssim: float | None) -> None:
        self.psnr_label.setText(_fmt(psnr, " dB"))
        self.ssim_label.setText(_fmt(ssim, "", 4))

    def set_estimating(self) -> None:
        """The result is shown; its estimate is being computed (two more runs of the method)."""
        self.estimate_label.setText("estimating…")
        self.estimate_label.setToolTip("Two more runs of the method on the input plus a small probe (Monte-Carlo SURE)")

    def set_estimate(self, estimate: QualityEstimate | None) -> None:
        """The estimated PSNR with its spread, or "—" with the reason (or none yet) in the tooltip."""
        self.estimate_label.setText(estimate.text() if estimate is not None else "—")
        if estimate is None:
            tip = "Not estimated (a result of a run appears here with its estimate)"
        elif estimate.valid:
            kept = f"; {100 * estimate.kept:.0f}% of the pixels used" if estimate.kept is not None and estimate.kept < 1 else ""
            tip = f"Monte-Carlo SURE, σ {estimate.sigma:.1f} ({estimate.sigma_source}){kept}"
        else:
            tip = f"No estimate: {estimate.reason}"
        self.estimate_label.setToolTip(tip)

    def set_sigma(self, noisy: float | None, result: float | None) -> None:
        """No-reference estimates: noise σ of the input and of what is left in the result."""
        if noisy is None and result is None:
            self.sigma_label.setText("")
            return
        self.sigma_label.setText(f"Estimated σ: input {_fmt(noisy, '', 1)} → result {_fmt(result, '', 1)}")

    def set_heatmap(self, diff: np.ndarray | None, kind: str = "reference") -> None:
        """Show an H×W difference map (0–1 units) with fixed symmetric levels."""
        if diff is None:
            self.heatmap.clear()
            self._has_heatmap = False
            return
        title = "Result − reference" if kind == "reference" else "Noisy − result (what was removed)"
        self.heatmap_title.setText(f"{title}, ±{HEATMAP_RANGE:.0f}/255")
        self.heatmap.setImage(diff * 255.0, autoLevels=False, levels=(-HEATMAP_RANGE, HEATMAP_RANGE))
        if not self._has_heatmap:
            self.view.autoRange(padding=0)
        self._has_heatmap = True
