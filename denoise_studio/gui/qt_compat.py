"""Workarounds for defects of the installed Qt bindings, each detected before it is applied.

PySide6 6.12.0: ``SignalInstance.emit()`` called from Python returns ``True`` without taking a
reference to it, so every emit drops one reference to ``True`` (measured: exactly −1 per call,
from any thread, connected or not). In Python 3.11 ``True`` is not immortal: after a few hundred
to a few thousand emits its count reaches zero and the interpreter aborts with
"bool_dealloc: deallocating True or False" (the window died so after two minutes of Deep Image
Prior). pyqtgraph emits from Python all the time, so avoiding ``emit`` is not an option.

:func:`install_true_refcount_guard` checks whether the bindings have the defect and, if so,
keeps ``True``'s count topped up from a timer on the UI thread (and from the worker loop via
:func:`top_up`): it holds extra references in a list, 8 bytes per leaked reference. On bindings
without the defect it does nothing.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

#: Top up when True's reference count falls below this ...
LOW_WATER = 1_000_000
#: ... by this many references (8 MB of list).
CHUNK = 1_000_000
CHECK_INTERVAL_MS = 500

_reserve: list[bool] = []
_lock = threading.Lock()
_leaks: bool | None = None
_guard: _Guard | None = None


class _Probe(QObject):
    ping = Signal()


def emit_leaks_true() -> bool:
    """True if ``Signal.emit()`` of these bindings drops a reference to ``True`` (memoised)."""
    global _leaks
    if _leaks is None:
        probe = _Probe()
        # Make sure the probe itself cannot be the emit that kills True.
        keep = [True] * 64
        before = sys.getrefcount(True)
        for _ in range(16):
            probe.ping.emit()
        after = sys.getrefcount(True)
        _leaks = before - after >= 16
        if _leaks:
            _reserve.extend(keep)  # the 16 references the probe consumed stay covered
    return _leaks


def top_up() -> None:
    """Hold more references to ``True`` when its count runs low (cheap when it does not)."""
    if _leaks and sys.getrefcount(True) < LOW_WATER:
        with _lock:
            if sys.getrefcount(True) < LOW_WATER:
                _reserve.extend([True] * CHUNK)


def reserve_size() -> int:
    """References held by the guard (for tests and diagnostics)."""
    return len(_reserve)


class _Guard(QObject):
    @Slot()
    def check(self) -> None:
        top_up()


def install_true_refcount_guard() -> bool:
    """Start the guard (once per process) if the bindings need it; returns whether they do."""
    global _guard
    if not emit_leaks_true():
        return False
    top_up()
    app = QCoreApplication.instance()
    if _guard is None and app is not None:
        _guard = _Guard(app)
        timer = QTimer(_guard)
        timer.setInterval(CHECK_INTERVAL_MS)
        timer.timeout.connect(_guard.check)
        timer.start()
    return True
