"""The guard against PySide6 6.12.0's emit() dropping references to True."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from denoise_studio.gui import qt_compat


class _Emitter(QObject):
    ping = Signal(object)


def test_many_emits_do_not_exhaust_true(qapp) -> None:
    leaks = qt_compat.install_true_refcount_guard()
    emitter = _Emitter()
    before = sys.getrefcount(True)
    for i in range(5000):  # more than True's natural reference count in this process
        emitter.ping.emit(i)
        if i % 1000 == 0:
            qt_compat.top_up()
    drop = before - sys.getrefcount(True)
    if leaks:
        assert qt_compat.reserve_size() >= qt_compat.CHUNK
        assert sys.getrefcount(True) > qt_compat.LOW_WATER // 2
    else:
        assert abs(drop) < 100  # fixed bindings: nothing to guard
