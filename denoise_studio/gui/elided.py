"""Names that do not fit are elided with "…" and shown whole in a tooltip, never cut.

:func:`fit_names` shares a line's room between several names (a short name's unused share goes
to the others); :class:`ElidedComboBox` paints its current name that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF, QPaintEvent
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QWidget


def fit_names(template: str, names: Sequence[str], metrics: QFontMetricsF, width: float) -> list[str]:
    """``names`` elided on the right so that ``template.format(*names)`` fits in ``width`` pixels."""
    widths = [metrics.horizontalAdvance(name) for name in names]
    room = max(width - metrics.horizontalAdvance(template.format(*([""] * len(names)))), 0.0)
    if sum(widths) <= room:
        return list(names)
    shares: dict[int, float] = {}
    waiting = list(range(len(names)))
    while waiting:  # names shorter than an equal share keep their width; the rest share what is left
        share = room / len(waiting)
        short = [i for i in waiting if widths[i] <= share]
        if not short:
            break
        for i in short:
            shares[i] = widths[i]
            room -= widths[i]
            waiting.remove(i)
    for i in waiting:
        shares[i] = room / len(waiting)
    return [metrics.elidedText(name, Qt.TextElideMode.ElideRight, shares[i]) for i, name in enumerate(names)]


class ElidedComboBox(QComboBox):
    """A combo box that never widens for a long item: the current name is elided with "…", the
    tooltip says it whole (after ``tip``), and the list shows each item whole in its tooltip."""

    def __init__(self, tip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tip = tip
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(6)
        self.view().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.currentIndexChanged.connect(self.refresh_tooltip)
        self.refresh_tooltip()

    def add_name(self, name: str, data: object = None) -> None:
        self.addItem(name, data)
        self.setItemData(self.count() - 1, name, Qt.ItemDataRole.ToolTipRole)

    def shown_text(self) -> str:
        """The current name as painted: whole, or elided to the room of the box."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        room = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self)
        return QFontMetricsF(self.font()).elidedText(self.currentText(), Qt.TextElideMode.ElideRight, room.width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def refresh_tooltip(self, _index: int = -1) -> None:
        """The tooltip names the current item whole (called by the box; also after filling it with signals blocked)."""
        name = self.currentText()
        self.setToolTip(f"{self.tip}: {name}" if self.tip and name else self.tip or name)
