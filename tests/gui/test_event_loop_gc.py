"""The cyclic collector runs from the event loop, never inside a Qt call (gui/event_loop_gc.py)."""

from __future__ import annotations

import gc
import weakref

from denoise_studio.gui import event_loop_gc


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_the_automatic_collector_is_off_and_the_event_loop_collects(qtbot, qapp) -> None:
    collector = event_loop_gc.install(qapp)
    assert not gc.isenabled() and collector.timer.isActive()
    node = _Node()
    gone = weakref.ref(node)
    del node
    for _ in range(gc.get_threshold()[0] + 10):  # allocations past the youngest threshold
        _Node()
    assert gone() is not None  # nothing collected it at an allocation
    qtbot.waitUntil(lambda: gone() is None, timeout=3 * event_loop_gc.INTERVAL_MS)


def test_nothing_is_collected_before_a_threshold_is_passed(qapp) -> None:
    collector = event_loop_gc.install(qapp)
    gc.collect()
    before = collector.collections
    assert collector.collect_due() == 0 and collector.collections == before
