"""Workarounds for defects of the installed Qt bindings, each detected before it is applied.

PySide6 6.12.0 (as installed here, on CPython 3.11) drops references to Python's singletons:

* every method that returns nothing (``QPainter.drawLine``, ``QObject.setObjectName``, ...)
  hands back ``None`` without taking a reference to it: −1 on ``None`` per call;
* ``SignalInstance.emit()`` does the same with the ``True`` it returns: −1 on ``True`` per emit.

On CPython 3.12+ these objects are immortal and nothing happens, which is probably why the
defect went unnoticed. On 3.11 the counts reach zero after a few thousand calls and the
interpreter aborts ("none_dealloc: deallocating None" / "bool_dealloc"): the window died so
after two minutes of Deep Image Prior, inside pyqtgraph's painting. Measured in this project's
tests: 1000 ``drawLine`` calls → ``sys.getrefcount(None)`` −999; 1000 emits → ``True`` −1000;
PySide6 6.11.3 → 0 and 0.

The workaround does what CPython 3.12 does for these objects: it makes their reference counts
so large (2⁴⁰ more) that the leak can never bring them to zero (a million leaked references a
second would take twelve days). It is applied only when the leak is measured, only on CPython
below 3.12 and on release builds, where ``ob_refcnt`` is the object's first field.
"""

from __future__ import annotations

import ctypes
import platform
import sys

from PySide6.QtCore import QObject, Signal

BOOST = 1 << 40
_PROBE_CALLS = 32
_state: dict[str, bool] | None = None


class _Probe(QObject):
    ping = Signal()


def measure_leaks() -> dict[str, bool]:
    """Whether these bindings drop references to ``None`` (void calls) and ``True`` (emit)."""
    probe = _Probe()
    keep = [None, True] * _PROBE_CALLS  # the probe must not itself be the call that kills them
    none_before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    none_after = sys.getrefcount(None)
    true_before = sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        probe.ping.emit()
    true_after = sys.getrefcount(True)
    del keep
    return {
        "None": none_before - none_after >= _PROBE_CALLS - 2,
        "True": true_before - true_after >= _PROBE_CALLS - 2,
    }


def _can_patch() -> bool:
    return (
        platform.python_implementation() == "CPython"
        and sys.version_info < (3, 12)
        and not hasattr(sys, "gettotalrefcount")  # debug builds put other fields first
    )


def _boost(obj: object) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += BOOST


def install_refcount_guard() -> dict[str, bool]:
    """Measure the leaks once per process and make the leaking singletons effectively immortal.

    Returns the measurement (``{"None": bool, "True": bool}``); a no-op where nothing leaks.
    """
    global _state
    if _state is not None:
        return _state
    _state = measure_leaks()
    if any(_state.values()) and _can_patch():
        # False is boosted too: it is returned the same way by the same generated code.
        for obj in (None, True, False):
            _boost(obj)
    return _state


def top_up() -> None:
    """Boost again if a count ever ran low (never expected; cheap to check)."""
    if _state is not None and any(_state.values()) and _can_patch():
        for obj in (None, True, False):
            if sys.getrefcount(obj) < BOOST // 2:
                _boost(obj)
