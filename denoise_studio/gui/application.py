"""The QApplication with the studio's theme and icon, and the start-up costs paid behind the window."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def create_application(argv: Sequence[str] | None = None, offscreen: bool = False):  # type: ignore[no-untyped-def]
    """The QApplication with the studio's theme (created once)."""
    if offscreen and not os.environ.get("QT_QPA_PLATFORM") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from denoise_studio.gui.theme import apply_theme

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        qInstallMessageHandler(_quiet_offscreen)
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
        app.setApplicationName("Denoise Studio")
        app.setOrganizationName("DenoiseStudio")
        apply_theme(app)
        _set_icon(app)
    from denoise_studio.gui import event_loop_gc
    from denoise_studio.gui.qt_compat import install_refcount_guard

    install_refcount_guard()
    event_loop_gc.install(app)
    return app


def _set_icon(app) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QIcon

    from denoise_studio.core.weights import resource_dirs

    for folder in resource_dirs("icons"):
        icon = QIcon()
        for name in ("denoise-studio.svg", "denoise-studio-256.png"):
            if (folder / name).is_file():
                icon.addFile(str(folder / name))
        if not icon.isNull():
            app.setWindowIcon(icon)
            return


def warm_up() -> None:
    """Pay torch's lazy start-up costs before the first run (in the methods' loading thread).

    The first ``Adam.step()`` of a process imports about 830 modules (``torch._dynamo``, sympy,
    ...): 1–2 s on an idle machine, 7 s under load. Imports run largely under the GIL, so when
    they first happened inside a Deep Image Prior run they froze the UI for up to 0.9 s at a time.
    One tiny optimisation step while the methods load (``gui/loading.py``) moves that cost to
    start-up, behind the window and before Run is enabled.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; classical methods still work
        return
    weight = torch.nn.Parameter(torch.zeros(2, 1, 3, 3))
    optimiser = torch.optim.Adam([weight], lr=1e-3)
    torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), weight).square().mean().backward()
    optimiser.step()


def freeze_startup_objects() -> None:
    """Move every object alive after start-up out of the garbage collector's reach.

    Qt wrappers, pyqtgraph and torch leave ~250 000 long-lived objects; a full collection scans
    them all while holding the GIL, and (measured on the 2-core machine under load) froze the UI
    for 0.6–0.8 s whenever the worker's allocations triggered one. ``gc.freeze()`` keeps them out
    of later collections, which then take microseconds.
    """
    import gc

    gc.collect()
    gc.freeze()


def _quiet_offscreen(_kind, _context, message: str) -> None:  # type: ignore[no-untyped-def]
    """Drop the offscreen platform's harmless "does not support propagateSizeHints()" line."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)
