"""The central image viewer and its compare modes.

The viewer shows a list of labelled images; the first two are *A* and *B* of the compare modes:

``split``
    One pane: A on the left of a draggable divider, B on the right.
``side``
    Every image in its own pane (at least two), zoom and pan locked together.
``blink``
    One pane; a key (B or Space) or the Blink button toggles between A and B in place.
``difference``
    One pane: B − A averaged over channels, diverging colours with fixed symmetric levels.

Zoom with the wheel at the cursor, pan by dragging, Fit and 1:1 buttons; the pixel position and
values under the cursor are shown below. Updating an image (a live result) keeps zoom and pan,
and the previous image stays on screen until a new one arrives.

A rectangle region can be selected on the first pane (``set_region_selection(True)``); its
pixel rectangle is emitted by ``region_selected`` and returned by :meth:`selected_region`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core.image import ImageData
from denoise_studio.gui.viewer_panes import Layer, Pane, PaneTitle, fit_at_top, grid_columns, to_display

__all__ = ["MODES", "ImageViewer", "to_display"]

MODES = ("split", "side", "blink", "difference")


def _readout_label() -> QLabel:
    """The pixel read-out under the image. Its text changes with every mouse move and must never
    widen the window: it is cut at the viewer's edge instead."""
    label = QLabel(" ")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("font-family: monospace; padding: 2px 6px;")
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setMinimumWidth(1)
    return label
MODE_TITLES = {"split": "Split", "side": "Side by side", "blink": "Blink", "difference": "Difference"}

DIFF_COLORMAP = "CET-D1"  # blue – white – red, perceptually uniform


class ImageViewer(QWidget):
    """Central viewer with split / side-by-side / blink / difference compare modes.

    Signals
    -------
    pixel_info(str)
        The readout under the cursor.
    region_selected(object)
        ``(x, y, width, height)`` in image pixels, or ``None`` when the selection is removed.
    mode_changed(str)
    """

    pixel_info = Signal(str)
    region_selected = Signal(object)
    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layers: list[Layer] = []
        self._mode = "split"
        self._divider = 0.5  # fraction of the width
        self._blink_b = True
        self._diff_range = 30.0  # ± on the 0–255 scale
        self._panes: list[Pane] = []
        self._built_key: tuple[object, ...] | None = None
        self._roi: pg.RectROI | None = None
        self._region: tuple[int, int, int, int] | None = None
        self._roi_hidden = False
        self.colour_profile: bytes | None = None  # the input's ICC profile, applied to what is painted
        self._ahead: tuple[np.ndarray, np.ndarray] | None = None  # an image and its display pixels (paint_ahead)
        self.alpha: np.ndarray | None = None  # the input's alpha: transparent areas painted over checks
        self._at_fit = True  # the view was fitted and not zoomed or panned since: it refits on a new layout

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.graphics.ci.setSpacing(4)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

        bar = self._build_toolbar()
        self.readout = _readout_label()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._update_controls()

    def _build_toolbar(self) -> QHBoxLayout:
        """The toolbar: compare mode, fit, 1:1, difference range, region selection."""
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        self.mode_buttons = QButtonGroup(self)
        self.mode_buttons.setExclusive(True)
        self._mode_button: dict[str, QToolButton] = {}
        shortcuts = {"split": "1", "side": "2", "blink": "3", "difference": "4"}
        for mode in MODES:
            button = QToolButton()
            button.setText(MODE_TITLES[mode])
            button.setCheckable(True)
            button.setToolTip(f"{MODE_TITLES[mode]} compare mode ({shortcuts[mode]})")
            button.setObjectName(mode)
            self.mode_buttons.addButton(button)
            self._mode_button[mode] = button
            bar.addWidget(button)
        self._mode_button["split"].setChecked(True)
        self.mode_buttons.buttonClicked.connect(self._on_mode_button)
        bar.addSpacing(12)
        self.blink_button = QPushButton("Blink (B)")
        self.blink_button.setToolTip("Toggle between A and B (key B or Space)")
        self.blink_button.clicked.connect(self.toggle_blink)
        bar.addWidget(self.blink_button)
        self.diff_label = QLabel("±")
        self.diff_spin = QDoubleSpinBox()
        self.diff_spin.setRange(1.0, 255.0)
        self.diff_spin.setDecimals(0)
        self.diff_spin.setValue(self._diff_range)
        self.diff_spin.setSuffix(" /255")
        self.diff_spin.setToolTip("Colour range of the difference (fixed, symmetric)")
        self.diff_spin.valueChanged.connect(self._on_diff_range)
        bar.addWidget(self.diff_label)
        bar.addWidget(self.diff_spin)
        bar.addStretch(1)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the image to the window (F)")
        self.fit_button.clicked.connect(self.fit)
        self.one_button = QPushButton("1:1")
        self.one_button.setToolTip("One image pixel per screen pixel (0)")
        self.one_button.clicked.connect(self.actual_size)
        self.region_button = QPushButton("Select region")
        self.region_button.setCheckable(True)
        self.region_button.setToolTip("Draw a rectangle on the image (used by region-first runs)")
        self.region_button.toggled.connect(self.set_region_selection)
        for b in (self.region_button, self.fit_button, self.one_button):
            bar.addWidget(b)
        return bar

    # -- images --------------------------------------------------------------------------------

    def set_images(self, images: list[tuple[str, np.ndarray]]) -> None:
        """Show these labelled images (the first two are A and B). Keeps zoom if sizes match."""
        self._layers = [Layer(label, image, self._painted(image)) for label, image in images]
        self._refresh()

    def set_image(self, index: int, label: str, image: np.ndarray) -> None:
        """Replace (or append) image ``index``, keeping zoom and pan: for live updates."""
        layer = Layer(label, image, self._painted(image))
        if index < len(self._layers):
            self._layers[index] = layer
        else:
            self._layers.append(layer)
        self._refresh()

    def paint_ahead(self, image: np.ndarray, painted: np.ndarray) -> None:
        """``to_display`` of ``image``, made already (in a worker thread, for a large image)."""
        self._ahead = (image, painted)

    def _painted(self, image: np.ndarray) -> np.ndarray:
        if self._ahead is not None and self._ahead[0] is image:
            return self._ahead[1]
        return to_display(image, self.colour_profile, self.alpha)

    def paint_like(self, data: ImageData | None) -> None:
        """Paint the next images as the input is seen: in its colour profile, its transparent
        areas over a checkerboard (only what is painted changes)."""
        self.colour_profile = data.metadata.get("icc_profile") if data is not None else None
        self.alpha = data.alpha if data is not None else None

    def images(self) -> list[tuple[str, np.ndarray]]:
        return [(layer.label, layer.image) for layer in self._layers]

    def labels(self) -> list[str]:
        return [layer.label for layer in self._layers]

    def pane_titles(self) -> list[PaneTitle]:
        """The titles over the panes (names elided to the pane, whole in the tooltip)."""
        return [pane.title for pane in self._panes]

    def clear(self) -> None:
        self._layers = []
        self._refresh()

    # -- modes ---------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}; modes: {', '.join(MODES)}")
        if mode == self._mode:
            return
        self._mode = mode
        self._mode_button[mode].setChecked(True)
        self._refresh()
        self.mode_changed.emit(mode)

    def effective_mode(self) -> str:
        """The mode actually drawn: a single image, or images of different sizes, force ``side``."""
        if len(self._layers) < 2:
            return "single"
        if self._mode != "side" and self._layers[0].image.shape != self._layers[1].image.shape:
            return "side"
        return self._mode

    def set_divider(self, fraction: float) -> None:
        """Place the split divider at this fraction of the width."""
        self._divider = float(min(max(fraction, 0.0), 1.0))
        if self._panes and hasattr(self, "_split_line") and self.effective_mode() == "split":
            self._split_line.setValue(self._divider * self._layers[0].image.shape[1])

    @property
    def divider(self) -> float:
        return self._divider

    @Slot()
    def toggle_blink(self) -> None:
        """Blink mode: show the other of A and B."""
        self._blink_b = not self._blink_b
        if self.effective_mode() == "blink":
            self._apply_blink()

    @property
    def blink_shows_b(self) -> bool:
        return self._blink_b

    def set_diff_range(self, value: float) -> None:
        self.diff_spin.setValue(value)

    # -- navigation ----------------------------------------------------------------------------

    @Slot()
    def fit(self) -> None:
        """Fit the whole image in the view (side by side: at the top of each pane, under its title)."""
        if not self._panes:
            return
        side = self.effective_mode() == "side" and bool(self._layers)
        fit_at_top(self._panes[0].view, self._layers[0].image.shape[0] if side else None)
        self._at_fit = True

    @Slot()
    def actual_size(self) -> None:
        """Zoom so that one image pixel covers one screen pixel, about the view's centre."""
        if not self._panes:
            return
        view = self._panes[0].view
        self._at_fit = False
        px, py = view.viewPixelSize()
        if px > 0 and py > 0:
            view.scaleBy((1.0 / px, 1.0 / py))

    def view_range(self) -> list[list[float]]:
        return self._panes[0].view.viewRange() if self._panes else [[0, 1], [0, 1]]

    def views(self) -> list[pg.ViewBox]:
        return [pane.view for pane in self._panes]

    # -- region selection ---------------------------------------------------------------------

    @Slot(bool)
    def set_region_selection(self, enabled: bool) -> None:
        """Show (or remove) a movable, resizable rectangle on the first pane."""
        if self.region_button.isChecked() != enabled:
            self.region_button.setChecked(enabled)  # re-enters through toggled
            return
        if enabled and self._roi is None and self._layers:
            h, w = self._layers[0].image.shape[:2]
            size = max(8, min(h, w) // 4)
            self._region = self._region or ((w - size) // 2, (h - size) // 2, size, size)
            self._install_roi()
            self.region_selected.emit(self._region)
        elif not enabled:
            self._remove_roi()
            if self._region is not None:
                self._region = None
                self.region_selected.emit(None)

    def set_region(self, region: tuple[int, int, int, int] | None) -> None:
        """Select ``(x, y, width, height)`` in image pixels (clipped to the image), or nothing."""
        if region is None:
            self.set_region_selection(False)
            return
        self._region = self._clip_region(region)
        if self._roi is not None:
            x, y, w, h = self._region
            self._roi.setPos((x, y), update=False, finish=False)
            self._roi.setSize((w, h), update=True, finish=False)
        if not self.region_button.isChecked():
            self.set_region_selection(True)
        else:
            self.region_selected.emit(self._region)

    def set_region_hidden(self, hidden: bool) -> None:
        """Hide the selection rectangle (kept selected) while the panes show a crop of the image.

        Its coordinates are those of the whole image, so over a region result beside its crop it
        would be drawn in the wrong place (and would widen the fitted view).
        """
        if hidden == self._roi_hidden:
            return
        self._roi_hidden = hidden
        if hidden:
            self._remove_roi()
        elif self.region_button.isChecked() and self._roi is None:
            self._install_roi()

    def selected_region(self) -> tuple[int, int, int, int] | None:
        """The selected rectangle ``(x, y, width, height)`` in image pixels, or ``None``."""
        return self._region

    def _clip_region(self, region: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        if not self._layers:
            return tuple(int(round(v)) for v in region)  # type: ignore[return-value]
        h, w = self._layers[0].image.shape[:2]
        x, y, rw, rh = (int(round(v)) for v in region)
        x = min(max(x, 0), w - 1)
        y = min(max(y, 0), h - 1)
        rw = max(1, min(rw, w - x))
        rh = max(1, min(rh, h - y))
        return x, y, rw, rh

    def _install_roi(self) -> None:
        if not self._panes or self._region is None or self._roi_hidden:
            return
        x, y, w, h = self._region
        self._roi = pg.RectROI((x, y), (w, h), pen=pg.mkPen("#ffcc33", width=2), snapSize=1, translateSnap=True, scaleSnap=True)
        self._roi.setZValue(20)
        self._roi.sigRegionChangeFinished.connect(self._on_roi_changed)
        self._panes[0].view.addItem(self._roi)

    def _remove_roi(self) -> None:
        if self._roi is not None:
            view = self._roi.getViewBox()
            if view is not None:
                view.removeItem(self._roi)
            self._roi = None

    @Slot(object)
    def _on_roi_changed(self, roi: pg.ROI) -> None:
        pos, size = roi.pos(), roi.size()
        self._region = self._clip_region((pos.x(), pos.y(), size.x(), size.y()))
        self.region_selected.emit(self._region)

    # -- building and painting ----------------------------------------------------------------

    def _refresh(self) -> None:
        mode = self.effective_mode()
        shapes = tuple(layer.image.shape[:2] for layer in self._layers)
        panes = len(self._layers) if mode == "side" else 1
        key = (mode, panes, shapes, self._side_columns(panes) if mode == "side" else 1)
        refit = False
        if key != self._built_key:
            refit = not self._build(mode, panes, same_size=self._built_key is not None and self._built_key[2][:1] == shapes[:1])
            refit = refit or (self._at_fit and mode == "side")
            self._built_key = key
        self._paint(mode)
        if refit:
            self.fit()  # a new size: fit once the images are in (their bounds define the range)
        self._update_controls()

    def _build(self, mode: str, panes: int, same_size: bool) -> bool:
        """Lay out the panes for ``mode``; True when the previous zoom and pan were kept."""
        old_range = self.view_range() if self._panes and same_size else None
        self._remove_roi()
        self.graphics.clear()
        self._panes = []
        if not self._layers:
            return False
        columns = self._side_columns(panes) if mode == "side" else 1
        for i in range(panes):
            pane = Pane(self._layers[i].label if i < len(self._layers) else "")
            row, col = 2 * (i // columns), i % columns
            self.graphics.addItem(pane.title, row=row, col=col)
            self.graphics.addItem(pane.view, row=row + 1, col=col)
            # Equal cells, so linked panes show the same region at the same scale.
            self.graphics.ci.layout.setColumnStretchFactor(col, 1)
            self.graphics.ci.layout.setRowStretchFactor(row + 1, 1)
            if i > 0:
                pane.view.setXLink(self._panes[0].view)
                pane.view.setYLink(self._panes[0].view)
            self._panes.append(pane)
        first = self._panes[0]
        first.view.sigRangeChangedManually.connect(self._on_zoomed_by_hand)
        if mode in ("single", "side"):
            for pane in self._panes:
                pane.add_image()
        elif mode == "split":
            first.add_image()
            h, w = self._layers[0].image.shape[:2]
            # B lives inside a rectangle that clips it: moving the divider only moves the clip.
            self._clip = QGraphicsRectItem(QRectF(0, 0, w, h))
            self._clip.setPen(QPen(Qt.PenStyle.NoPen))
            self._clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
            first.view.addItem(self._clip, ignoreBounds=True)
            first.add_image(parent=self._clip)
            self._split_line = pg.InfiniteLine(
                pos=self._divider * w, angle=90, movable=True, pen=pg.mkPen("#ffffff", width=2),
                hoverPen=pg.mkPen("#ffcc33", width=3), bounds=(0, w),
            )
            self._split_line.setZValue(10)
            self._split_line.sigPositionChanged.connect(self._on_divider_moved)
            first.view.addItem(self._split_line, ignoreBounds=True)
        elif mode == "blink":
            first.add_image()
            first.add_image()
        elif mode == "difference":
            item = first.add_image()
            self._diff_bar = pg.ColorBarItem(
                values=(-self._diff_range, self._diff_range), colorMap=pg.colormap.get(DIFF_COLORMAP),
                interactive=False, width=14, label="B − A (0–255)",
            )
            self._diff_bar.setImageItem(item)
            self.graphics.addItem(self._diff_bar, row=1, col=1)
        if old_range is not None:
            first.view.setRange(xRange=old_range[0], yRange=old_range[1], padding=0)
        if self.region_button.isChecked():
            self._install_roi()
        return old_range is not None

    def _paint(self, mode: str) -> None:
        if not self._panes:
            return
        layers = self._layers
        if mode in ("single", "side"):
            for pane, layer in zip(self._panes, layers):
                pane.items[0].setImage(layer.display, autoLevels=False, levels=(0, 255))
                pane.title.show_names("{}", layer.label)
        elif mode == "split":
            a, b = layers[0], layers[1]
            items = self._panes[0].items
            items[0].setImage(a.display, autoLevels=False, levels=(0, 255))
            items[1].setImage(b.display, autoLevels=False, levels=(0, 255))
            self._panes[0].title.show_names("◀ A: {}   |   B: {} ▶", a.label, b.label)
            self._on_divider_moved(self._split_line)
        elif mode == "blink":
            a, b = layers[0], layers[1]
            items = self._panes[0].items
            items[0].setImage(a.display, autoLevels=False, levels=(0, 255))
            items[1].setImage(b.display, autoLevels=False, levels=(0, 255))
            self._apply_blink()
        elif mode == "difference":
            a, b = layers[0], layers[1]
            diff = (b.image.astype(np.float32) - a.image.astype(np.float32)).mean(axis=2) * 255.0
            self._panes[0].items[0].setImage(diff, autoLevels=False, levels=(-self._diff_range, self._diff_range))
            self._diff_bar.setLevels((-self._diff_range, self._diff_range))
            self._panes[0].title.show_names("Difference B − A:  {} − {}", b.label, a.label)

    def _apply_blink(self) -> None:
        items = self._panes[0].items
        if len(items) < 2 or len(self._layers) < 2:
            return
        items[1].setVisible(self._blink_b)
        shown = self._layers[1] if self._blink_b else self._layers[0]
        which = "B" if self._blink_b else "A"
        self._panes[0].title.show_names(f"Blink — showing {which}: {{}}   (press B to toggle)", shown.label)

    def _update_controls(self) -> None:
        mode = self.effective_mode()
        self.blink_button.setVisible(self._mode == "blink")
        self.diff_label.setVisible(self._mode == "difference")
        self.diff_spin.setVisible(self._mode == "difference")
        has_pair = len(self._layers) >= 2
        for name, button in self._mode_button.items():
            button.setEnabled(has_pair or name == "side")
        del mode

    def _side_columns(self, panes: int) -> int:
        """Side by side: the columns (the rest in rows below) that show the images largest."""
        if panes < 2 or not self._layers:
            return max(panes, 1)
        h, w = self._layers[0].image.shape[:2]
        size = self.graphics.size()
        return grid_columns(panes, size.width(), size.height(), w, h)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.effective_mode() == "side" and self._built_key is not None and self._built_key[3] != self._side_columns(len(self._layers)):
            self._refresh()  # another arrangement of the panes fits the new size better

    # -- slots ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_zoomed_by_hand(self, _axes: object) -> None:
        self._at_fit = False

    _KEY_MODES = {Qt.Key.Key_1: "split", Qt.Key.Key_2: "side", Qt.Key.Key_3: "blink", Qt.Key.Key_4: "difference"}

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """B / Space: blink; F: fit; 0: 1:1; 1–4: compare modes (focus anywhere in the viewer)."""
        key = event.key()
        if key in (Qt.Key.Key_B, Qt.Key.Key_Space):
            self.toggle_blink()
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_0:
            self.actual_size()
        elif key in self._KEY_MODES:
            self.set_mode(self._KEY_MODES[key])
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    @Slot(object)
    def _on_mode_button(self, button: QToolButton) -> None:
        self.set_mode(button.objectName())

    @Slot(float)
    def _on_diff_range(self, value: float) -> None:
        self._diff_range = float(value)
        if self.effective_mode() == "difference":
            self._paint("difference")

    @Slot(object)
    def _on_divider_moved(self, line: pg.InfiniteLine) -> None:
        if not self._layers:
            return
        h, w = self._layers[0].image.shape[:2]
        x = float(min(max(line.value(), 0.0), w))
        self._divider = x / w if w else 0.5
        self._clip.setRect(QRectF(x, 0, w - x, h))

    @Slot(object)
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        for pane in self._panes:
            if pane.view.sceneBoundingRect().contains(scene_pos):
                point = pane.view.mapSceneToView(scene_pos)
                text = self.readout_at(int(np.floor(point.x())), int(np.floor(point.y())))
                self.readout.setText(text)
                self.pixel_info.emit(text)
                return

    def readout_at(self, x: int, y: int) -> str:
        """The text shown for pixel (x, y): its position and every image's values (0–255)."""
        if not self._layers:
            return " "
        h, w = self._layers[0].image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return f"x {x:5d}  y {y:5d}   (outside the image)"
        parts = [f"x {x:5d}  y {y:5d}"]
        for name, layer in zip("ABCDEFGH", self._layers):
            if y < layer.image.shape[0] and x < layer.image.shape[1]:
                values = layer.image[y, x] * 255.0
                shown = " ".join(f"{v:5.1f}" for v in values)
                parts.append(f"{name} {layer.label}: [{shown}]")
        return "    ".join(parts)
