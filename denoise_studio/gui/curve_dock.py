"""The iteration-curve dock: the live curves of an iterative run, made for choosing an iteration.

Two plots share the iteration axis, side by side (a bottom dock is wide and short):

* "Quality": every series whose key starts with ``psnr`` (PSNR against the reference, computed
  by the worker, and any ``psnr_*`` the method reports itself), in dB;
* "Loss": ``loss`` and every other scalar, with ``variance*`` keys on a right axis of their own.

Each series has a colour and a line style (``curve_style``), named in a legend under the plots,
outside the data. Moving the mouse over a plot draws a crosshair and reads the iteration and
every series' value there; the wheel and a drag zoom and pan the iteration axis only (the value
axis follows what is in view), a double-click shows everything again. Events (``guard``,
``es-wmv``, ...) are labelled vertical markers ("ES-EMV suggests 837"); :meth:`set_cursor`
marks the iterate on view. Pause holds the run (Stop and Cancel are the status bar's, the same
for every job). Method-specific controls are added with :meth:`add_control` and :meth:`add_row`; clicking a
plot emits ``step_clicked``. With nothing to plot the panel folds to one line
(:meth:`set_expected`), and :class:`CurveDock` gives the room back to the image.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core import curves
from denoise_studio.core.result import CurvePoint
from denoise_studio.gui import curve_style
from denoise_studio.gui.curve_style import CURSOR_COLOUR, EVENT_COLOURS, SeriesStyle

#: The plots' height below which tick labels and the legend stop being readable.
PLOT_MIN_HEIGHT = 170


def format_value(key: str, value: float) -> str:
    """A series value as the readout shows it: dB with two decimals, anything else in 4 digits."""
    return f"{value:.2f} dB" if curve_style.is_quality(key) else f"{value:.4g}"


class _Canvas(pg.GraphicsLayoutWidget):
    """The plots' widget; ``hovered`` carries the mouse's scene position (None when it leaves).

    A Qt signal of the widget itself, rather than the scene's ``sigMouseMoved``: Qt disconnects
    it with the widget, where a Python-side connection to the scene outlived the window in tests
    and crashed the process.
    """

    hovered = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        self.hovered.emit(self.mapToScene(event.position().toPoint()))

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self.hovered.emit(None)


class CurvePanel(QWidget):
    """Live curves with a Pause button and room for method-specific controls.

    Signals
    -------
    pause_toggled(bool)
        True: pause; False: resume.
    step_clicked(int)
        The user clicked a plot at this iteration.
    """

    pause_toggled = Signal(bool)
    step_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = _Canvas()
        self.graphics.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.quality = self.graphics.addPlot(row=0, col=0)
        self.loss_plot = self.graphics.addPlot(row=0, col=1)
        for plot, label in ((self.quality, "PSNR (dB)"), (self.loss_plot, "loss")):
            self._dress(plot, label)
        self.loss_plot.setXLink(self.quality)
        self.right = self._right_axis_view()
        self._hover = [self._vertical_line("#9aa4b2", Qt.PenStyle.DotLine, plot) for plot in (self.quality, self.loss_plot)]
        self.graphics.hovered.connect(self._on_mouse_moved)

        self._build_controls()
        self.placeholder = QLabel("")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #7d8694;")
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.readout = QLabel("")
        self.readout.setStyleSheet("color: #d8dee9;")
        self.readout.setWordWrap(True)
        self.rows_widget = QWidget()
        self._rows = QVBoxLayout(self.rows_widget)
        self._rows.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addLayout(self.controls)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.readout)
        layout.addWidget(self.rows_widget)

        self._series: dict[str, tuple[list[int], list[float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._styles: dict[str, SeriesStyle] = {}
        self._events: list[tuple[int, str]] = []
        self._markers: list[pg.InfiniteLine] = []
        self._cursor: list[pg.InfiniteLine] = []
        self._cursor_step: int | None = None
        self._expected = True
        self.title = ""
        self.set_running(False)
        self._show_plots(False)

    def _dress(self, plot: pg.PlotItem, label: str) -> None:
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setLabel("left", label)
        plot.setLabel("bottom", "iteration")
        for side in ("left", "bottom"):
            plot.getAxis(side).enableAutoSIPrefix(False)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        # The iteration axis zooms and pans; the value axis follows what is in view.
        plot.setMouseEnabled(x=True, y=False)
        plot.vb.setAutoVisible(y=True)
        plot.hideButtons()
        plot.scene().sigMouseClicked.connect(self._on_clicked)

    def _right_axis_view(self) -> pg.ViewBox:
        """A second view box on the loss plot's right axis, for the variance-like series."""
        right = pg.ViewBox()
        right.setMouseEnabled(x=True, y=False)
        right.setAutoVisible(y=True)
        self.loss_plot.showAxis("right")
        self.loss_plot.scene().addItem(right)
        axis = self.loss_plot.getAxis("right")
        axis.linkToView(right)
        axis.setLabel("variance")
        axis.enableAutoSIPrefix(False)
        right.setXLink(self.loss_plot)
        self.loss_plot.vb.sigResized.connect(self._sync_right)
        return right

    def _build_controls(self) -> None:
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause / resume the run")
        self.pause_button.toggled.connect(self._on_pause)
        self.fit_button = QPushButton("Show all")
        self.fit_button.setToolTip("Zoom out to every iteration (the wheel and a drag zoom and pan the iteration axis;"
                                   " a double-click on a plot does the same)")
        self.fit_button.clicked.connect(self.show_all)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #9aa4b2;")
        self.status.setMinimumWidth(40)
        self.controls = QHBoxLayout()
        for widget in (self.pause_button, self.fit_button):
            self.controls.addWidget(widget)
        self.controls.addWidget(self.status, 1)

    # -- extension points -----------------------------------------------------------------------

    def add_control(self, widget: QWidget) -> None:
        """Add a widget to the control row, after Pause and Show all."""
        self.controls.insertWidget(self.controls.count() - 1, widget)

    def add_row(self, widget: QWidget) -> None:
        """Add a full-width widget below the plots (a time-machine slider)."""
        self._rows.addWidget(widget)

    # -- data -----------------------------------------------------------------------------------

    def reset(self, title: str = "") -> None:
        """Forget every series and marker: a new run of ``title`` (the method) begins."""
        for key, curve in self._curves.items():
            (self.right if curves.is_variance(key) else self._plot_for(key)).removeItem(curve)
        for marker in self._markers + self._cursor:
            view = marker.getViewBox()
            if view is not None:
                view.removeItem(marker)
        self._series.clear()
        self._curves.clear()
        self._styles.clear()
        self._events.clear()
        self._markers.clear()
        self._cursor.clear()
        self._cursor_step = None
        self.legend.setText("")
        self.readout.setText("")
        self.status.setText(f"{title}: running…" if title else "")
        self.title = title
        self.show_all()
        self._show_plots(False)

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
            self._show_plots(True)
        for key in changed:
            steps, ys = self._series[key]
            self._curve(key).setData(np.asarray(steps), np.asarray(ys))

    def add_event(self, step: int, name: str) -> None:
        """A labelled vertical marker at ``step`` on both plots (the label on the PSNR plot)."""
        self._events.append((step, name))
        colour = EVENT_COLOURS.get(name, "#bbbbbb")
        # Labels of neighbouring events are staggered in height so that they do not overwrite each other.
        height = 0.95 - 0.13 * ((len(self._events) - 1) % 4)
        for plot, labelled in ((self.quality, True), (self.loss_plot, False)):
            line = pg.InfiniteLine(
                pos=step, angle=90, movable=False, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                label=curve_style.event_label(name, step) if labelled else None,
                labelOpts={"position": height, "color": colour, "fill": (20, 24, 30, 200), "anchors": curve_style.label_anchor(name)},
            )
            plot.addItem(line, ignoreBounds=True)
            self._markers.append(line)

    def set_cursor(self, step: int | None) -> None:
        """Mark (or unmark) ``step``, the iterate on view, on both plots."""
        for line in self._cursor:
            view = line.getViewBox()
            if view is not None:
                view.removeItem(line)
        self._cursor.clear()
        self._cursor_step = step
        if step is None:
            return
        for plot, labelled in ((self.quality, True), (self.loss_plot, False)):
            line = pg.InfiniteLine(
                pos=step, angle=90, movable=False, pen=pg.mkPen(CURSOR_COLOUR, width=2),
                label=f"on view {step}" if labelled else None,
                labelOpts={"position": 0.08, "color": CURSOR_COLOUR, "fill": (20, 24, 30, 200), "anchors": [(0, 0.5), (0, 0.5)]},
            )
            plot.addItem(line, ignoreBounds=True)
            self._cursor.append(line)
        self.readout.setText(self.values_at(step))

    def cursor_step(self) -> int | None:
        return self._cursor_step

    def series(self) -> dict[str, tuple[list[int], list[float]]]:
        """Every series: key → (steps, values)."""
        return {k: (list(s), list(v)) for k, (s, v) in self._series.items()}

    def styles(self) -> dict[str, SeriesStyle]:
        """How each series is drawn (the figure export draws them the same way)."""
        return dict(self._styles)

    def events(self) -> list[tuple[int, str]]:
        return list(self._events)

    def has_data(self) -> bool:
        return bool(self._series)

    def values_at(self, step: int) -> str:
        """The crosshair's text: the iteration and each series' value at the recorded step nearest to it."""
        parts = [f"iteration {step}"]
        for key, (steps, ys) in sorted(self._series.items(), key=lambda item: (not curve_style.is_quality(item[0]), item[0])):
            index = bisect.bisect_left(steps, step)
            if index == len(steps) or (index > 0 and step - steps[index - 1] < steps[index] - step):
                index -= 1
            if index >= 0 and abs(steps[index] - step) <= max(1, step // 50):
                parts.append(f"{self._styles[key].name.removesuffix(' (right)')} {format_value(key, ys[index])}")
        return "  ·  ".join(parts)

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
        self.pause_button.setEnabled(running and stoppable)
        if not running:
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_expected(self, iterative: bool) -> None:
        """Whether the selected method draws curves: without them (and without data) the panel folds."""
        self._expected = iterative
        self._show_plots(self.has_data())

    def is_folded(self) -> bool:
        return self.graphics.isHidden()

    @Slot()
    def show_all(self) -> None:
        """Zoom out to every iteration and follow new ones again."""
        for view in (self.quality.vb, self.loss_plot.vb, self.right):
            if self._series:
                view.autoRange()
            view.enableAutoRange()

    # -- internals ------------------------------------------------------------------------------

    def _show_plots(self, visible: bool) -> None:
        for widget in (self.graphics, self.legend, self.readout):
            widget.setVisible(visible)
        self.fit_button.setVisible(visible)
        self.placeholder.setVisible(not visible)
        self.placeholder.setText(
            "Curves of iterative methods appear here while they run: loss, PSNR, and the method's own values."
            if self._expected else "The selected method runs in one shot: it has no iteration curve."
        )
        self.rows_widget.setVisible(visible or self._expected)

    def _plot_for(self, key: str) -> pg.PlotItem:
        return self.quality if curve_style.is_quality(key) else self.loss_plot

    def _vertical_line(self, colour: str, style: Qt.PenStyle, plot: pg.PlotItem) -> pg.InfiniteLine:
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(colour, width=1, style=style))
        line.setVisible(False)
        plot.addItem(line, ignoreBounds=True)
        return line

    def _curve(self, key: str) -> pg.PlotDataItem:
        curve = self._curves.get(key)
        if curve is None:
            others = sum(1 for k in self._curves if k not in curve_style.KNOWN)
            style = self._styles[key] = curve_style.series_style(key, others)
            pen = pg.mkPen(style.colour, width=1.8, style=style.style)
            if curves.is_variance(key):
                curve = pg.PlotDataItem(pen=pen, name=style.name)
                self.right.addItem(curve)
            else:
                curve = self._plot_for(key).plot(pen=pen, name=style.name)
            self._curves[key] = curve
            ordered = sorted(self._styles.items(), key=lambda item: (not curve_style.is_quality(item[0]), item[0]))
            self.legend.setText(curve_style.legend_html(ordered))
        return curve

    @Slot()
    def _sync_right(self) -> None:
        self.right.setGeometry(self.loss_plot.vb.sceneBoundingRect())
        self.right.linkedViewChanged(self.loss_plot.vb, self.right.XAxis)

    @Slot(bool)
    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)

    def _step_under(self, pos: Any) -> int | None:
        for plot in (self.quality, self.loss_plot):
            if plot.vb.sceneBoundingRect().contains(pos):
                return int(round(plot.vb.mapSceneToView(pos).x()))
        return None

    @Slot(object)
    def _on_mouse_moved(self, pos: Any) -> None:
        step = self._step_under(pos) if self._series and pos is not None else None
        for line in self._hover:
            line.setVisible(step is not None)
            if step is not None:
                line.setValue(step)
        if step is not None:
            self.readout.setText(self.values_at(step))
        elif self._cursor_step is not None:
            self.readout.setText(self.values_at(self._cursor_step))

    @Slot(object)
    def _on_clicked(self, event: Any) -> None:
        step = self._step_under(event.scenePos())
        if step is None or not self._series:
            return
        if event.double():
            self.show_all()
        else:
            self.step_clicked.emit(step)


class CurveDock(QDockWidget):
    """A dock holding a :class:`CurvePanel` (``self.panel``) that takes room only while it has curves to show."""

    def __init__(self, title: str = "Iteration curve", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.setObjectName("curve_dock")
        self.panel = CurvePanel(self)
        self.setWidget(self.panel)

    def fit_height(self, window: QMainWindow, iterative: bool, running: bool = False) -> None:
        """Give the curves about two fifths of the window while an iterative method runs or its
        curves are there to read; a line otherwise (the image and the Method dock get the room)."""
        self.panel.set_expected(iterative)
        if (iterative and running) or self.panel.has_data():
            height = min(440, max(280, int(window.height() * 0.42)))
        else:
            height = self.panel.minimumSizeHint().height() + 8
        window.resizeDocks([self], [height], Qt.Orientation.Vertical)
