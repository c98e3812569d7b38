"""The window's menus: File, View, Run and Help, with their shortcuts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from denoise_studio.core.image import SAMPLE_PREFIX, sample_names

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

VIEW_MODES = (("split", "Split"), ("side", "Side by side"), ("blink", "Blink"), ("difference", "Difference"))


def add_action(window: MainWindow, menu: Any, text: str, slot: Any, shortcut: str | QKeySequence.StandardKey | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window: MainWindow) -> None:
    """Fill the menu bar; the actions the window enables and disables become its attributes."""
    bar = window.menuBar()
    _file_menu(window, bar.addMenu("&File"))

    view_menu = bar.addMenu("&View")
    group = QActionGroup(window)
    window.mode_actions = {}
    for mode, title in VIEW_MODES:
        action = view_menu.addAction(title)
        action.setCheckable(True)
        action.setData(mode)
        group.addAction(action)
        window.mode_actions[mode] = action
    window.mode_actions["split"].setChecked(True)
    group.triggered.connect(window.on_mode_action)
    view_menu.addSeparator()
    add_action(window, view_menu, "&Fit to window", window.viewer.fit, "Ctrl+0")
    add_action(window, view_menu, "&1:1 pixels", window.viewer.actual_size, "Ctrl+1")
    view_menu.addSeparator()
    for dock in (window.method_dock_widget, window.metrics_dock, window.results_dock, window.curve_dock, window.train_dock):
        view_menu.addAction(dock.toggleViewAction())
    add_action(window, view_menu, "&Reset layout", window.reset_layout)

    run_menu = bar.addMenu("&Run")
    window.run_action = add_action(window, run_menu, "&Run", window.on_run_clicked, "Ctrl+R")
    window.stop_action = add_action(window, run_menu, "&Stop (keep result)", window.stop_run, "Ctrl+.")
    window.pause_action = add_action(window, run_menu, "&Pause / resume", window.toggle_pause, "Ctrl+P")
    window.cancel_action = add_action(window, run_menu, "&Cancel (discard)", window.on_cancel_clicked, "Esc")

    help_menu = bar.addMenu("&Help")
    add_action(window, help_menu, "&About", window.about)


def _file_menu(window: MainWindow, menu: Any) -> None:
    exports = window.exports
    add_action(window, menu, "&Open…", window.open_dialog, QKeySequence.StandardKey.Open, "Open a noisy image")
    samples = menu.addMenu("Open &sample")
    window.sample_actions = QActionGroup(window)
    for name in sample_names():
        action = samples.addAction(name)
        action.setData(SAMPLE_PREFIX + name)
        window.sample_actions.addAction(action)
    window.sample_actions.triggered.connect(window.on_open_action)
    window.recent_menu = menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window.fill_recent_menu)
    window.recent_actions = QActionGroup(window)
    window.recent_actions.triggered.connect(window.on_open_action)
    add_action(window, menu, "Load &reference…", window.load_reference_dialog, None, "Set the clean image of a real noisy one")
    menu.addSeparator()
    add_action(window, menu, "Add &noise…", window.add_noise_dialog, "Ctrl+Shift+N", "Add synthetic noise; the clean image becomes the reference")
    menu.addSeparator()
    add_action(window, menu, "&Export selected…", exports.export_selected_dialog, "Ctrl+E")
    add_action(window, menu, "Export &all…", exports.export_all_dialog)
    add_action(window, menu, "Export &comparison…", exports.export_comparison_dialog)
    add_action(window, menu, "Export c&urve…", exports.export_curve_dialog)
    menu.addSeparator()
    add_action(window, menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)
