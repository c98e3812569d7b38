"""The iteration-curve dock: a generic live plot of whatever an iterative method reports.

Two plots share the iteration axis:

* top, "Quality": every series whose key starts with ``psnr`` (PSNR against the reference,
  computed by the worker, and any ``psnr_*`` the method reports itself), in dB;
* bottom, "Loss": ``loss`` and every other scalar, with keys starting with ``variance`` on a
  second (right) axis because their scale is unrelated.

``Snapshot.events`` (``guard``, ``es-wmv``, ...) are drawn as labelled vertical markers. The
Stop button ends the run early and keeps its result; Pause holds it. Method-specific controls
(the Deep Image Prior's choice of what to keep, its time-machine slider) are added with
:meth:`CurvePanel.add_control` and :meth:`CurvePanel.add_row`; clicking a plot emits
``step_clicked`` and :meth:`CurvePanel.set_cursor` draws a cursor at a step.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from denoise_studio.core import curves
from denoise_studio.core.result import CurvePoint

# A colour-blind-friendly cycle (Okabe–Ito) readable on a dark background.
PALETTE = ("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#d55e00", "#0072b2", "#ffffff")
EVENT_COLOURS = {curves.EVENT_GUARD: "#ff5555", curves.ES_WMV: "#f0e442", curves.ES_EMV: "#e69f00", curves.EVENT_STOP: "#ffffff"}
# The curves every run of a kind draws keep their colour from run to run, whatever comes first.
KEY_COLOURS = {
    curves.LOSS: PALETTE[0],
    curves.PSNR_NOISY: PALETTE[1],
    curves.PSNR_REF: PALETTE[2],
    curves.PSNR_VALIDATION: PALETTE[2],
    curves.PSNR_NOISY_AVG: PALETTE[3],
    curves.PSNR_REF_AVG: PALETTE[4],
    curves.VARIANCE_WMV: PALETTE[5],
    curves.VARIANCE_EMV: PALETTE[6],
}

PRETTY = {curves.LOSS: "loss", curves.PSNR: "PSNR vs reference", curves.PSNR_VALIDATION: "validation PSNR"}


def _pretty(key: str) -> str:
    return PRETTY.get(key, key.replace("_", " "))


class CurvePanel(QWidget):
    """Live curves with a Stop button and room for method-specific controls.

    Signals
    -------
    stop_requested()
        End the run early, keep the result.
    pause_toggled(bool)
        True: pause; False: resume.
    step_clicked(int)
        The user clicked a plot at this iteration.
    """

    stop_requested = Signal()
    pause_toggled = Signal(bool)
    step_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        # Side by side: a bottom dock is wide and short, and each plot keeps a readable height.
        self.quality = self.graphics.addPlot(row=0, col=0)
        self.loss_plot = self.graphics.addPlot(row=0, col=1)
        for plot, label in ((self.quality, "PSNR (dB)"), (self.loss_plot, "loss")):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setLabel("left", label)
            plot.setLabel("bottom", "iteration")
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.addLegend(offset=(-10, 5), labelTextSize="8pt", verSpacing=-6)
            plot.scene().sigMouseClicked.connect(self._on_clicked)
        self.loss_plot.setXLink(self.quality)
        # A second view box on the right axis of the loss plot for variance-like series.
        self.right = pg.ViewBox()
        self.loss_plot.showAxis("right")
        self.loss_plot.scene().addItem(self.right)
        self.loss_plot.getAxis("right").linkToView(self.right)
        self.loss_plot.getAxis("right").setLabel("variance")
        self.right.setXLink(self.loss_plot)
        self.loss_plot.vb.sigResized.connect(self._sync_right)

        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("End the run now and keep its result")
        self.stop_button.clicked.connect(self._on_stop)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause / resume the run")
        self.pause_button.toggled.connect(self._on_pause)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #9aa4b2;")
        self.controls = QHBoxLayout()
        self.controls.addWidget(self.stop_button)
        self.controls.addWidget(self.pause_button)
        self.controls.addWidget(self.status, 1)
        self._rows = QVBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self.controls)
        # Until a run reports a curve, a line of text says what will appear here.
        self.placeholder = QLabel(
            "Curves of iterative methods appear here while they run: loss, PSNR, and the method's own values.\n"
            "One-shot methods (the classical filters, network inference) have no curve."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #7d8694;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.graphics)
        layout.addWidget(self.stack, 1)
        layout.addLayout(self._rows)

        self._series: dict[str, tuple[list[int], list[float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._events: list[tuple[int, str]] = []
        self._markers: list[pg.InfiniteLine] = []
        self._cursor: list[pg.InfiniteLine] = []
        self.set_running(False)

    # -- extension points -----------------------------------------------------------------------

    def add_control(self, widget: QWidget) -> None:
        """Add a widget to the control row, after Stop and Pause."""
        self.controls.insertWidget(self.controls.count() - 1, widget)

    def add_row(self, widget: QWidget) -> None:
        """Add a full-width widget below the plots (a time-machine slider)."""
        self._rows.addWidget(widget)

    # -- data -----------------------------------------------------------------------------------

    def reset(self, title: str = "") -> None:
        """Forget every series and marker (a new run)."""
        for key, curve in self._curves.items():
            (self.right if curves.is_variance(key) else self._plot_for(key)).removeItem(curve)
            legend = self._plot_for(key).legend
            if legend is not None:
                legend.removeItem(curve)
        for marker in self._markers + self._cursor:
            marker.getViewBox() and marker.getViewBox().removeItem(marker)
        self._series.clear()
        self._curves.clear()
        self._events.clear()
        self._markers.clear()
        self._cursor.clear()
        self.status.setText(title)
        self.stack.setCurrentWidget(self.placeholder)

    def add_points(self, points: Iterable[CurvePoint]) -> None:
        """Append points (from the worker's batched updates) and redraw the changed series."""
        changed: set[str] = set()
        for point in points:
            values = dict(point.scalars)
            if point.loss is not None:
                values[curves.LOSS] = point.loss
            for key, value in values.items():
                if value is None or not math.isfinite(value):
                    continue
                steps, ys = self._series.setdefault(key, ([], []))
                steps.append(point.step)
                ys.append(float(value))
                changed.add(key)
            for event in point.events:
                self.add_event(point.step, event)
        if changed:
            self.stack.setCurrentWidget(self.graphics)
        for key in changed:
            steps, ys = self._series[key]
            self._curve(key).setData(np.asarray(steps), np.asarray(ys))

    def add_event(self, step: int, name: str) -> None:
        """A labelled vertical marker at ``step`` on both plots."""
        self._events.append((step, name))
        colour = EVENT_COLOURS.get(name, "#bbbbbb")
        for plot, labelled in ((self.quality, True), (self.loss_plot, False)):
            line = pg.InfiniteLine(
                pos=step, angle=90, movable=False, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                label=name if labelled else None,
                labelOpts={"position": 0.92, "color": colour, "rotateAxis": (1, 0), "anchors": [(0, 0), (0, 0)]},
            )
            plot.addItem(line, ignoreBounds=True)
            self._markers.append(line)

    def set_cursor(self, step: int | None) -> None:
        """Draw (or remove) a cursor line at ``step`` (the iterate shown in the viewer)."""
        for line in self._cursor:
            line.getViewBox() and line.getViewBox().removeItem(line)
        self._cursor.clear()
        if step is None:
            return
        for plot in (self.quality, self.loss_plot):
            line = pg.InfiniteLine(pos=step, angle=90, movable=False, pen=pg.mkPen("#ffcc33", width=2))
            plot.addItem(line, ignoreBounds=True)
            self._cursor.append(line)

    def series(self) -> dict[str, tuple[list[int], list[float]]]:
        """Every series: key → (steps, values)."""
        return {k: (list(s), list(v)) for k, (s, v) in self._series.items()}

    def events(self) -> list[tuple[int, str]]:
        return list(self._events)

    def has_data(self) -> bool:
        return bool(self._series)

    def to_csv(self) -> str:
        """All series as CSV text: one row per step, one column per series, then events."""
        keys = sorted(self._series, key=lambda k: (k != curves.LOSS, k))
        table: dict[int, dict[str, float]] = {}
        for key in keys:
            for step, value in zip(*self._series[key]):
                table.setdefault(step, {})[key] = value
        events: dict[int, list[str]] = {}
        for step, name in self._events:
            events.setdefault(step, []).append(name)
            table.setdefault(step, {})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["step", *keys, "events"])
        for step in sorted(table):
            row = table[step]
            writer.writerow([step, *[repr(row[k]) if k in row else "" for k in keys], ";".join(events.get(step, []))])
        return out.getvalue()

    # -- state ----------------------------------------------------------------------------------

    def set_running(self, running: bool, stoppable: bool = True) -> None:
        self.stop_button.setEnabled(running and stoppable)
        self.pause_button.setEnabled(running and stoppable)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    # -- internals ------------------------------------------------------------------------------

    def _plot_for(self, key: str) -> pg.PlotItem:
        return self.quality if key.startswith("psnr") else self.loss_plot

    def _curve(self, key: str) -> pg.PlotDataItem:
        curve = self._curves.get(key)
        if curve is None:
            others = sum(1 for k in self._curves if k not in KEY_COLOURS)
            colour = KEY_COLOURS.get(key) or PALETTE[others % len(PALETTE)]
            if curves.is_variance(key):
                curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DotLine), name=f"{_pretty(key)} (right)")
                self.right.addItem(curve)
                if self.loss_plot.legend is not None:
                    self.loss_plot.legend.addItem(curve, f"{_pretty(key)} (right axis)")
            else:
                curve = self._plot_for(key).plot(pen=pg.mkPen(colour, width=1.5), name=_pretty(key))
            self._curves[key] = curve
        return curve

    @Slot()
    def _sync_right(self) -> None:
        self.right.setGeometry(self.loss_plot.vb.sceneBoundingRect())
        self.right.linkedViewChanged(self.loss_plot.vb, self.right.XAxis)

    @Slot()
    def _on_stop(self) -> None:
        self.stop_requested.emit()

    @Slot(bool)
    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)

    @Slot(object)
    def _on_clicked(self, event: object) -> None:
        pos = event.scenePos()  # type: ignore[attr-defined]
        for plot in (self.quality, self.loss_plot):
            if plot.vb.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                if self._series:
                    self.step_clicked.emit(int(round(x)))
                return


class CurveDock(QDockWidget):
    """A dock holding a :class:`CurvePanel` (``self.panel``)."""

    def __init__(self, title: str = "Iteration curve", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName("curve_dock")
        self.panel = CurvePanel(self)
        self.setWidget(self.panel)
