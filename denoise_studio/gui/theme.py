"""One dark theme for Qt widgets and pyqtgraph, so docks and plots look like one window."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1e2026"
PANEL = "#262932"
BASE = "#1b1d23"
TEXT = "#dfe3ea"
MUTED = "#9aa4b2"
ACCENT = "#4f9dde"

_STYLE = f"""
QDockWidget::title {{ background: {PANEL}; padding: 4px 8px; font-weight: 600; }}
QDockWidget {{ titlebar-close-icon: none; }}
QGroupBox {{ border: 1px solid #3a3f4b; border-radius: 4px; margin-top: 10px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; }}
QPushButton#run {{ background: {ACCENT}; color: white; font-weight: 600; padding: 6px 14px; border-radius: 4px; }}
QPushButton#run:disabled {{ background: #3a4250; color: #8a93a0; }}
QToolButton:checked {{ background: {ACCENT}; color: white; }}
QStatusBar QLabel {{ padding: 0 6px; }}
QListWidget::item {{ padding: 3px; border-bottom: 1px solid #2f333d; }}
QListWidget::item:selected {{ background: #2f4c6b; }}
"""


def configure_pyqtgraph() -> None:
    """Row-major images and the theme's colours; call before any pyqtgraph widget is made."""
    pg.setConfigOptions(imageAxisOrder="row-major", background=BASE, foreground=TEXT, antialias=True)


def apply_theme(app: QApplication) -> None:
    """Fusion style with a dark palette and a little style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7280"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
    configure_pyqtgraph()
