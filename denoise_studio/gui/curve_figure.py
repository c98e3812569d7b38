"""The iteration curve as a figure: its own size and aspect, a title, labelled axes, a legend.

The live panel is a strip at the bottom of the window; a figure for a report or a paper is not.
:func:`render_figure` draws the same series (same colours and line styles, on white) into an
off-screen plot of a fixed size: PSNR above, loss and the stopping rules' variances below on
the same iteration axis (a plot each, rather than the live view's second axis), the rules'
suggestions and the iterate on view as labelled markers, the legend in a row of its own.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from denoise_studio.core import curves
from denoise_studio.gui import curve_style
from denoise_studio.gui.curve_style import SeriesStyle

FIGURE_SIZE = (1200, 800)
# Colours drawn on the dark window that vanish on white paper get a darker stand-in.
ON_WHITE = {"#f0e442": "#b59f00", "#ffffff": "#000000", "#ffcc33": "#c27c00"}


def _ink(colour: str) -> str:
    return ON_WHITE.get(colour.lower(), colour)


def render_figure(
    series: dict[str, tuple[list[int], list[float]]],
    styles: dict[str, SeriesStyle],
    events: list[tuple[int, str]],
    title: str,
    cursor: int | None = None,
    size: tuple[int, int] = FIGURE_SIZE,
) -> QImage:
    """The curves as an RGB image of ``size`` (width, height)."""
    width, height = size
    canvas = pg.GraphicsLayoutWidget()
    canvas.setBackground("#ffffff")
    canvas.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    canvas.resize(width, height)
    layout = canvas.ci
    layout.setContentsMargins(16, 12, 24, 12)
    layout.addLabel(title, row=0, col=0, size="14pt", color="#000000")
    has_variance = any(curves.is_variance(k) for k in series)
    quality = layout.addPlot(row=1, col=0)
    loss = layout.addPlot(row=2, col=0)
    variance = layout.addPlot(row=3, col=0) if has_variance else None
    plots = [p for p in (quality, loss, variance) if p is not None]
    for row, (plot, stretch) in enumerate(zip(plots, (3, 2, 2)), start=1):
        layout.layout.setRowStretchFactor(row, stretch)
        if plot is not quality:
            plot.setXLink(quality)
        label = "PSNR (dB)" if plot is quality else "loss" if plot is loss else "variance"
        _dress(plot, label, "iteration" if plot is plots[-1] else "")
    legend = pg.LegendItem(colCount=3, labelTextColor="#000000", labelTextSize="10pt")
    layout.addItem(legend, row=len(plots) + 1, col=0)
    for key, (steps, values) in series.items():
        style = styles.get(key) or curve_style.series_style(key, 0)
        pen = pg.mkPen(_ink(style.colour), width=2, style=style.style)
        item = pg.PlotDataItem(np.asarray(steps), np.asarray(values), pen=pen)
        target = quality if curve_style.is_quality(key) else variance if curves.is_variance(key) and variance else loss
        target.addItem(item)
        legend.addItem(item, style.name.removesuffix(" (right)"))
    for index, (step, name) in enumerate(events):
        _marker(plots, step, _ink(curve_style.EVENT_COLOURS.get(name, "#666666")),
                curve_style.event_label(name, step), 0.95 - 0.12 * (index % 4), curve_style.label_anchor(name))
    if cursor is not None:
        _marker(plots, cursor, _ink(curve_style.CURSOR_COLOUR), f"on view {cursor}", 0.08, curve_style.label_anchor(""))
    canvas.show()  # laid out off screen (its layout requests only, no other queued event): axes, ticks and labels take their sizes
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
    image = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    canvas.close()
    canvas.deleteLater()
    return image


def _dress(plot: pg.PlotItem, label: str, bottom: str) -> None:
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setLabel("left", label, color="#000000")
    if bottom:
        plot.setLabel("bottom", bottom, color="#000000")
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.enableAutoSIPrefix(False)
        axis.setPen("#000000")
        axis.setTextPen("#000000")
    plot.vb.setBackgroundColor("#ffffff")
    plot.hideButtons()


def _marker(plots: list[pg.PlotItem], step: int, colour: str, label: str, height: float,
            anchors: list[tuple[float, float]]) -> None:
    """A dashed line at ``step`` on every plot, labelled on the first."""
    for plot in plots:
        plot.addItem(pg.InfiniteLine(
            pos=step, angle=90, movable=False, pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
            label=label if plot is plots[0] else None,
            labelOpts={"position": height, "color": colour, "fill": (255, 255, 255, 220), "anchors": anchors},
        ), ignoreBounds=True)
