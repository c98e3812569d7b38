"""The guard against Qt bindings that drop references to None and True (PySide6 6.12.0)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPainter

from denoise_studio.gui import qt_compat


class _Emitter(QObject):
    ping = Signal(object)


def test_long_painting_and_emitting_cannot_exhaust_the_singletons(qapp) -> None:
    state = qt_compat.install_refcount_guard()
    assert set(state) == {"None", "True"}
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    emitter = _Emitter()
    # Far more void calls and emits than None's and True's natural counts in this process.
    for i in range(20_000):
        painter.drawLine(0, 0, 5, 5)
        emitter.ping.emit(i)
    painter.end()
    if any(state.values()):
        assert sys.getrefcount(None) > qt_compat.BOOST // 2
        assert sys.getrefcount(True) > qt_compat.BOOST // 2


def test_measurement_matches_what_the_bindings_do(qapp) -> None:
    measured = qt_compat.measure_leaks()
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(100):
        obj.setObjectName("x")
    assert measured["None"] == (before - sys.getrefcount(None) >= 90)
