"""The iteration curve as a figure: its own size and aspect, a title, labelled axes, a legend.

The live panel is a strip at the bottom of the window; a figure for a report or a paper is not.
:func:`render_figure` draws the same series (same colours and line styles, on white) into an
off-screen plot of a fixed size: PSNR above, loss below on the same iteration axis, the
stopping rules' suggestions and the iterate on view as labelled markers, the legend in a row
of its own under the plots.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter

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
    layout = pg.GraphicsLayout()
    layout.setContentsMargins(16, 12, 24, 12)
    scene = pg.GraphicsScene()
    scene.addItem(layout)
    layout.addLabel(title, row=0, col=0, size="14pt", color="#000000")
    quality = layout.addPlot(row=1, col=0)
    loss = layout.addPlot(row=2, col=0)
    loss.setXLink(quality)
    layout.layout.setRowStretchFactor(1, 3)
    layout.layout.setRowStretchFactor(2, 2)
    legend = pg.LegendItem(colCount=3, labelTextColor="#000000", labelTextSize="10pt")
    layout.addItem(legend, row=3, col=0)
    for plot, label, bottom in ((quality, "PSNR (dB)", ""), (loss, "loss", "iteration")):
        _dress(plot, label, bottom)
    right = _right_view(loss) if any(curves.is_variance(k) for k in series) else None
    for key, (steps, values) in series.items():
        style = styles.get(key) or curve_style.series_style(key, 0)
        pen = pg.mkPen(_ink(style.colour), width=2, style=style.style)
        item = pg.PlotDataItem(np.asarray(steps), np.asarray(values), pen=pen)
        target = quality if curve_style.is_quality(key) else loss
        (right if right is not None and curves.is_variance(key) else target.vb).addItem(item)
        legend.addItem(item, style.name)
    for index, (step, name) in enumerate(events):
        _marker(quality, loss, step, _ink(curve_style.EVENT_COLOURS.get(name, "#666666")),
                curve_style.event_label(name, step), 0.95 - 0.12 * (index % 4))
    if cursor is not None:
        _marker(quality, loss, cursor, _ink(curve_style.CURSOR_COLOUR), f"on view {cursor}", 0.08)
    layout.setGeometry(QRectF(0, 0, width, height))
    if right is not None:
        right.setGeometry(loss.vb.sceneBoundingRect())
    image = QImage(width, height, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    scene.render(painter, QRectF(0, 0, width, height), QRectF(0, 0, width, height))
    painter.end()
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


def _right_view(plot: pg.PlotItem) -> pg.ViewBox:
    view = pg.ViewBox()
    plot.showAxis("right")
    plot.scene().addItem(view)
    axis = plot.getAxis("right")
    axis.linkToView(view)
    axis.setLabel("variance", color="#000000")
    axis.enableAutoSIPrefix(False)
    axis.setPen("#000000")
    axis.setTextPen("#000000")
    view.setXLink(plot)
    return view


def _marker(quality: pg.PlotItem, loss: pg.PlotItem, step: int, colour: str, label: str, height: float) -> None:
    for plot, labelled in ((quality, True), (loss, False)):
        plot.addItem(pg.InfiniteLine(
            pos=step, angle=90, movable=False, pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
            label=label if labelled else None,
            labelOpts={"position": height, "color": colour, "fill": (255, 255, 255, 220), "anchors": [(0, 0.5), (0, 0.5)]},
        ), ignoreBounds=True)
