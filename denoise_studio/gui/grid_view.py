"""The comparison grid: one pane per result, zoom and pan locked together, the best one marked.

Each pane is titled with its result (``#3 Non-local means``) and, on a second line, the time of its
run and the true PSNR when there is a reference, else ``est.`` and the PSNR estimated without one
(``core/quality.py``; it arrives after the result, so the titles are refreshed). The best result by
that figure gets a star, a gold title and a gold frame. A click on a pane (a click, not a drag: dragging pans)
emits ``pane_clicked`` with the result's id. The panes take the arrangement that shows the images
largest (``viewer_panes.grid_columns``), as the viewer's side-by-side mode does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from denoise_studio.core.cost import format_seconds
from denoise_studio.core.result import Result
from denoise_studio.gui.viewer_panes import Pane, PaneTitle, fit_at_top, grid_columns, to_display

BEST_COLOUR = "#ffcc33"
BEST_MARK = "★ "
HINT = "Click a pane to show it as B in the A/B viewer; wheel and drag zoom and pan every pane together."


def quality_of(result: Result) -> float | None:
    """The figure the grid ranks by: the true PSNR, else the estimated one, else None."""
    if result.psnr is not None:
        return result.psnr
    if result.estimate is not None and result.estimate.psnr is not None:
        return result.estimate.psnr
    return None


def quality_text(result: Result) -> str:
    """``PSNR 29.41 dB``, ``est. 29.41 dB``, ``est. …`` while it is computed, or ``est. —``."""
    if result.psnr is not None:
        return f"PSNR {result.psnr:.2f} dB"
    estimate = result.estimate
    if estimate is None:
        return "est. …"
    if estimate.psnr is None:
        return "est. —"
    return "est. ∞ dB" if math.isinf(estimate.psnr) else f"est. {estimate.psnr:.2f} dB"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else format_seconds(seconds)


def best_result(results: list[Result]) -> Result | None:
    """The result with the highest :func:`quality_of` (the first of equals); None without figures."""
    ranked = [(quality, -index, result) for index, result in enumerate(results)
              if (quality := quality_of(result)) is not None]
    return max(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


class GridView(QWidget):
    """See the module docstring.

    Signals
    -------
    pane_clicked(int)
        The id of the result whose pane was clicked.
    """

    pane_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: list[Result] = []
        self._panes: list[Pane] = []
        self._figures: list[PaneTitle] = []  # the second title line: time and PSNR
        self._columns = 0
        self._at_fit = True  # not zoomed or panned by hand since the last fit: a new layout refits
        self._note = ""
        #: Turns an image into the pixels painted (the window sets the input's colour profile and alpha).
        self.painter: Callable[[np.ndarray], np.ndarray] = to_display
        self._painted: dict[int, np.ndarray] = {}  # by result id: a relayout does not paint again
        self.heading = QLabel("")
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.heading.setToolTip(HINT)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the images to their panes")
        self.fit_button.clicked.connect(self.fit)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.graphics.ci.setSpacing(4)
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 4, 2)
        bar.addWidget(self.heading, 1)
        bar.addWidget(self.fit_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        self._update_heading()

    # -- contents -------------------------------------------------------------------------

    def results(self) -> list[Result]:
        return list(self._results)

    def result_ids(self) -> list[int]:
        return [result.id for result in self._results]

    def clear(self) -> None:
        self._results = []
        self._painted.clear()
        self._rebuild()

    def add_result(self, result: Result) -> None:
        """A new pane at the end (the panes are laid out again; zoom and pan are kept)."""
        self._results.append(result)
        self._rebuild()

    @Slot(int)
    def remove_result(self, result_id: int) -> None:
        if result_id in self.result_ids():
            self._results = [result for result in self._results if result.id != result_id]
            self._painted.pop(result_id, None)
            self._rebuild()

    def set_note(self, note: str) -> None:
        """A line before the summary in the heading (the queue's progress)."""
        self._note = note
        self._update_heading()

    # -- what is shown --------------------------------------------------------------------

    def best_id(self) -> int | None:
        best = best_result(self._results)
        return best.id if best is not None else None

    def titles(self) -> list[str]:
        """The panes' titles in full (as their tooltips say them)."""
        return [f"{pane.title.full_text()} · {figures.full_text()}" for pane, figures in zip(self._panes, self._figures)]

    def views(self) -> list[pg.ViewBox]:
        return [pane.view for pane in self._panes]

    def view_ranges(self) -> list[list[list[float]]]:
        return [pane.view.viewRange() for pane in self._panes]

    @Slot()
    def refresh(self) -> None:
        """Titles and the best mark again (an estimate arrived, a result was measured anew)."""
        best = self.best_id()
        for pane, figures, result in zip(self._panes, self._figures, self._results):
            is_best = result.id == best
            pane.title.setText(pane.title.shown_text(), color=BEST_COLOUR if is_best else None)
            pane.title.show_names(f"{BEST_MARK if is_best else ''}{{}}", result.label)
            figures.show_names(f"{seconds_text(result.elapsed)} · {quality_text(result)}")
            pane.view.setBorder(pg.mkPen(BEST_COLOUR, width=3) if is_best else None)
        self._update_heading()

    @Slot()
    def fit(self) -> None:
        """Fit the images to their panes (all of them: they are linked), each at the top of its pane."""
        if not self._panes:
            return
        fit_at_top(self._panes[0].view, self._results[0].image.shape[0])
        self._at_fit = True

    def _update_heading(self) -> None:
        best = best_result(self._results)
        parts = [self._note] if self._note else []
        if self._results:
            parts.append(f"{len(self._results)} result{'s' if len(self._results) != 1 else ''}")
        if best is not None:
            parts.append(f"{BEST_MARK}best: {best.label} ({quality_text(best)})")
        self.heading.setText(" · ".join(parts) if parts else "No results in the grid yet: Run → Compare in a grid…")

    # -- layout ---------------------------------------------------------------------------

    def _wanted_columns(self) -> int:
        if not self._results:
            return 0
        h, w = self._results[0].image.shape[:2]
        size = self.graphics.size()
        return grid_columns(len(self._results), size.width(), size.height(), w, h)

    def _rebuild(self) -> None:
        old_range = self._panes[0].view.viewRange() if self._panes and not self._at_fit else None
        self.graphics.clear()
        self._panes, self._figures = [], []
        self._columns = columns = self._wanted_columns()
        for index, result in enumerate(self._results):
            pane, figures = Pane(result.label), PaneTitle("")
            row, column = 3 * (index // columns), index % columns
            self.graphics.addItem(pane.title, row=row, col=column)
            self.graphics.addItem(figures, row=row + 1, col=column)
            self.graphics.addItem(pane.view, row=row + 2, col=column)
            self.graphics.ci.layout.setColumnStretchFactor(column, 1)
            self.graphics.ci.layout.setRowStretchFactor(row + 2, 1)
            if self._panes:
                pane.view.setXLink(self._panes[0].view)
                pane.view.setYLink(self._panes[0].view)
            if result.id not in self._painted:
                self._painted[result.id] = self.painter(result.image)
            pane.add_image().setImage(self._painted[result.id], autoLevels=False, levels=(0, 255))
            self._panes.append(pane)
            self._figures.append(figures)
        if self._panes:
            self._panes[0].view.sigRangeChangedManually.connect(self._on_zoomed_by_hand)
        self.refresh()
        if old_range is not None:
            self._panes[0].view.setRange(xRange=old_range[0], yRange=old_range[1], padding=0)
        else:
            self.fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._results and self._wanted_columns() != self._columns:
            self._rebuild()  # another arrangement shows the images larger at this size

    # -- slots ----------------------------------------------------------------------------

    @Slot(object)
    def _on_zoomed_by_hand(self, _axes: object) -> None:
        self._at_fit = False

    @Slot(object)
    def _on_clicked(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        position = event.scenePos()  # type: ignore[attr-defined]
        for pane, figures, result in zip(self._panes, self._figures, self._results):
            if any(item.sceneBoundingRect().contains(position) for item in (pane.view, pane.title, figures)):
                self.pane_clicked.emit(result.id)
                return
