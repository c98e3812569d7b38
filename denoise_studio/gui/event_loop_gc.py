"""Python's cyclic garbage collector, run from the event loop instead of at any allocation.

CPython starts a collection whenever enough container objects have been allocated, wherever
that allocation happens. With PySide6 6.11 it can happen inside a Qt call that holds one of
Qt's signal-slot mutexes: ``QObject::disconnect`` calls back into Python (an attribute lookup
that raises and allocates its exception), the allocation starts a collection, the collection
frees a window's widgets left in a reference cycle, and their ``~QObject`` waits for a mutex of
the same pool that this thread already holds. The process then hangs for good, in a C call that
no Python timeout can interrupt. Seen in this project's window tests (pyqtgraph's
``GraphicsItem._updateView`` disconnecting a view while a new plot line was added, about one
run in five of ``tests/gui`` with two OpenMP threads) and in CI, where it stopped the suite.

:func:`install` turns the automatic collector off and collects from a timer of the event loop
instead, where no Qt lock is held; the generations and thresholds stay CPython's own. Worker
threads allocate as before: their cycles wait for the next tick (one second at most).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 1000

_installed: EventLoopCollector | None = None


class EventLoopCollector(QObject):
    """Collects the generations whose counts passed CPython's thresholds, once per tick."""

    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.collections = 0
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.collect_due)

    def start(self) -> None:
        gc.disable()
        self.timer.start()

    def stop(self) -> None:
        """Hand collection back to CPython (tests that end their Qt part call this)."""
        self.timer.stop()
        gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation that is due, as CPython would at an allocation;
        returns the number of unreachable objects found."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for g in range(3):
            if thresholds[g] and counts[g] > thresholds[g]:
                generation = g
        if generation < 0:
            return 0
        self.collections += 1
        return gc.collect(generation)


def install(app: QCoreApplication | None = None) -> EventLoopCollector:
    """Collect garbage from ``app``'s event loop from now on (once per process)."""
    global _installed
    if _installed is None:
        owner = app if app is not None else QCoreApplication.instance()
        if owner is None:
            raise RuntimeError("create the QApplication before installing the collector")
        _installed = EventLoopCollector(owner)
        _installed.start()
    return _installed


def uninstall() -> None:
    """Undo :func:`install`: CPython collects on its own again."""
    global _installed
    if _installed is not None:
        _installed.stop()
        _installed.deleteLater()
        _installed = None
