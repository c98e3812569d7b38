"""The pieces of the image viewer's panes: what is painted, the titles, and how panes are laid out.

- :func:`to_display`: the pixels as painted (sRGB for the screen; transparent areas over a
  checkerboard). The pixels the methods process are never changed.
- :class:`PaneTitle`: a title whose names are elided with "…" when the pane is narrow, and said
  whole in its tooltip.
- :func:`grid_columns`: how many columns side-by-side panes take so that the images are largest.
- :func:`fit_at_top`: fit a pane's view with the image at the top, under its title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsItem

from denoise_studio.core.metadata import display_pixels
from denoise_studio.gui.elided import fit_names

#: The two greys of the checkerboard shown under transparent pixels (0–255).
CHECKER_GREYS = (102.0, 153.0)
TITLE_POINT_SIZE = 10
#: The height a pane's title row takes, in pixels (for choosing the layout of side-by-side panes).
TITLE_HEIGHT = 24


def to_display(image: np.ndarray, icc_profile: bytes | None = None, alpha: np.ndarray | None = None) -> np.ndarray:
    """H×W×C float [0, 1] → uint8 for painting (H×W for grayscale), converted to sRGB when the
    image carries another colour profile, and laid over a checkerboard where ``alpha`` (H×W, the
    input's, of its own type) is below one: for the screen only, the pixels keep theirs."""
    eight = display_pixels(image, icc_profile)
    if alpha is not None and alpha.shape == eight.shape[:2]:
        eight = over_checkerboard(eight, alpha)
    return np.ascontiguousarray(eight[:, :, 0]) if eight.shape[2] == 1 else eight


def over_checkerboard(eight: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``eight`` (H×W×C uint8) composited over grey checks by ``alpha``; checks of about 1/64 of
    the image's longer side, so they stay visible at Fit."""
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(alpha.dtype, 1.0)
    weight = np.clip(alpha.astype(np.float32) / np.float32(scale), 0.0, 1.0)[:, :, None]
    h, w = weight.shape[:2]
    square = max(4, round(max(h, w) / 64))
    checks = ((np.arange(h)[:, None] // square + np.arange(w)[None, :] // square) % 2).astype(np.float32)
    grey = (CHECKER_GREYS[0] + (CHECKER_GREYS[1] - CHECKER_GREYS[0]) * checks)[:, :, None]
    return (eight.astype(np.float32) * weight + grey * (1.0 - weight) + 0.5).astype(np.uint8)


def grid_columns(panes: int, width: float, height: float, image_width: int, image_height: int) -> int:
    """The number of columns for ``panes`` equal panes in ``width`` × ``height`` pixels that shows
    an ``image_width`` × ``image_height`` image largest (each grid row loses a title's height)."""
    best, best_scale = 1, -1.0
    for columns in range(1, panes + 1):
        rows = math.ceil(panes / columns)
        scale = min(width / columns / max(image_width, 1), (height / rows - TITLE_HEIGHT) / max(image_height, 1))
        if scale > best_scale + 1e-9:
            best, best_scale = columns, scale
    return best


def fit_at_top(view: pg.ViewBox, image_height: int | None) -> None:
    """Fit ``view`` to its contents; when the pane is taller than an image of ``image_height``
    rows, the spare room goes below the image, not between it and its title (``None``: left
    centred, as pyqtgraph fits)."""
    view.autoRange(padding=0.01)
    if image_height is None:
        return
    _, (top, bottom) = view.viewRange()
    slack = (bottom - top) - image_height
    if slack > 1:
        view.setYRange(top + slack / 2, bottom + slack / 2, padding=0)


@dataclass
class Layer:
    label: str
    image: np.ndarray  # float H×W×C
    display: np.ndarray  # uint8


class PaneTitle(pg.LabelItem):
    """A pane's title: a ``template`` with names, each elided with "…" to the pane's width (the
    tooltip says them whole). It never widens its column: linked panes must stay equal."""

    _template = "{}"
    _names: tuple[str, ...] = ()

    def __init__(self, name: str = "") -> None:
        super().__init__("", justify="left", size=f"{TITLE_POINT_SIZE}pt")
        self.show_names("{}", name)
        self.geometryChanged.connect(self._fit)

    def show_names(self, template: str, *names: str) -> None:
        self._template, self._names = template, names
        full = template.format(*names)
        self.setToolTip(full if len(names) < 2 else "\n".join(n for n in names))
        self._fit()

    def full_text(self) -> str:
        return self._template.format(*self._names)

    def shown_text(self) -> str:
        return str(self.text)

    @Slot()
    def _fit(self) -> None:
        font = QFont()
        font.setPointSize(TITLE_POINT_SIZE)
        room = self.size().width() - 12  # the label item's own margins
        names = fit_names(self._template, self._names, QFontMetricsF(font), room) if room > 0 else self._names
        shown = self._template.format(*names)
        if shown != self.text:
            self.setText(shown)

    def updateMin(self) -> None:
        super().updateMin()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, self._sizeHint[Qt.SizeHint.MinimumSize][1])
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, self._sizeHint[Qt.SizeHint.PreferredSize][1])
        self.updateGeometry()


class Pane:
    """One view box with its title and image items."""

    def __init__(self, title: str) -> None:
        self.title = PaneTitle(title)
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.01)
        self.items: list[pg.ImageItem] = []

    def add_image(self, parent: QGraphicsItem | None = None) -> pg.ImageItem:
        item = pg.ImageItem(axisOrder="row-major")
        if parent is None:
            self.view.addItem(item)
        else:
            item.setParentItem(parent)
        self.items.append(item)
        return item
