"""The window's menus (File, View, Run, Help) with their shortcuts, and the dialogs behind them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from denoise_studio.core.image import READ_FORMATS, SAMPLE_PREFIX, sample_names
from denoise_studio.gui.dialogs import NoiseDialog
from denoise_studio.gui.job_buttons import CANCEL_KEY, STOP_KEY
from denoise_studio.gui.model_import import ModelImport

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

VIEW_MODES = (("split", "Split"), ("side", "Side by side"), ("blink", "Blink"), ("difference", "Difference"))


def add_action(window: MainWindow, menu: Any, text: str, slot: Any, shortcut: str | QKeySequence.StandardKey | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    if slot is not None:  # else connected by its owner
        action.triggered.connect(slot)
    menu.addAction(action)
    return action


class MenuActions(QObject):
    """The menu entries that open a dialog first (open, reference, noise, recent files, about)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def _image_path(self, title: str, all_files: bool = True) -> str:
        patterns = " ".join(f"*{s}" for s in READ_FORMATS)
        filters = f"Images ({patterns})" + (";;All files (*)" if all_files else "")
        path, _ = QFileDialog.getOpenFileName(self.window, title, self.window.last_folder(), filters)
        return path

    @Slot()
    def open_dialog(self) -> None:
        path = self._image_path("Open image")
        if path:
            self.window.open_image(path)

    @Slot(QAction)
    def on_open_action(self, action: QAction) -> None:
        self.window.open_image(str(action.data()))

    @Slot()
    def fill_recent_menu(self) -> None:
        menu, group = self.window.recent_menu, self.window.recent_actions
        menu.clear()
        for action in group.actions():
            group.removeAction(action)
        recent = self.window.recent_files()
        if not recent:
            menu.addAction("(none yet)").setEnabled(False)
        for source in recent:
            action = menu.addAction(source)
            action.setData(source)
            group.addAction(action)

    @Slot()
    def load_reference_dialog(self) -> None:
        path = self._image_path("Load reference (clean) image", all_files=False)
        if path:
            self.window.load_reference(path)

    @Slot()
    def add_noise_dialog(self) -> None:
        previous = self.window.session.noise or {}
        dialog = NoiseDialog(self.window, previous.get("model", "gaussian"), previous.get("sigma", 25.0), previous.get("seed", 0))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.window.add_noise(dialog.model.currentText(), dialog.sigma.value(), dialog.seed.value())

    @Slot()
    def show_shortcuts(self) -> None:
        """Every key of the window in one table (Help → Keyboard shortcuts, F1)."""
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", shortcuts_html(self.window), QMessageBox.StandardButton.Ok, self.window)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.open()
        self.shortcuts_box = box

    @Slot()
    def about(self) -> None:
        from denoise_studio import __version__

        name = self.window.windowTitle().rsplit(" — ", 1)[-1]
        QMessageBox.about(self.window, name, f"<b>{name}</b> {__version__}<br>An interactive image-denoising workbench.")


#: Keys the image viewer handles itself (image_viewer.py), with what they do.
VIEWER_KEYS = (("1 – 4", "compare mode: split, side by side, blink, difference"), ("B or Space", "blink between A and B"),
               ("F", "fit the image to the window"), ("0", "one image pixel per screen pixel"),
               ("Wheel / drag", "zoom at the cursor / pan"))


def shortcuts_html(window: MainWindow) -> str:
    """A table of the menus' shortcuts (read from the actions, so it cannot go stale) and the viewer's keys."""
    rows = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        for action in menu.actions() if menu is not None else []:
            key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if key:
                rows.append((key, f"{menu_action.text().replace('&', '')} → {action.text().replace('&', '')}"))
    rows += list(VIEWER_KEYS)
    body = "".join(f"<tr><td><b>{key}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for key, what in rows)
    return f"<table>{body}</table>"


def build_menus(window: MainWindow) -> MenuActions:
    """Fill the menu bar; the actions the window enables and disables become its attributes."""
    actions = MenuActions(window)
    bar = window.menuBar()
    _file_menu(window, actions, bar.addMenu("&File"))

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
    add_action(window, run_menu, "Compare in a &grid…", window.grid_runs.ask_and_start, "Ctrl+G",
               "Run several methods one after another and see their results side by side")
    window.stop_action = add_action(window, run_menu, "&Stop — keep result", None, STOP_KEY)
    window.cancel_action = add_action(window, run_menu, "&Cancel — discard", None, CANCEL_KEY)
    window.run_view.job_buttons.bind_actions(window.stop_action, window.cancel_action)
    window.pause_action = add_action(window, run_menu, "&Pause / resume", window.toggle_pause, "Ctrl+P")

    help_menu = bar.addMenu("&Help")
    add_action(window, help_menu, "&Keyboard shortcuts", actions.show_shortcuts, "F1")
    add_action(window, help_menu, "&About", actions.about)
    return actions


def _file_menu(window: MainWindow, actions: MenuActions, menu: Any) -> None:
    exports = window.exports
    add_action(window, menu, "&Open…", actions.open_dialog, QKeySequence.StandardKey.Open, "Open a noisy image")
    samples = menu.addMenu("Open &sample")
    window.sample_actions = QActionGroup(window)
    for name in sample_names():
        action = samples.addAction(name)
        action.setData(SAMPLE_PREFIX + name)
        window.sample_actions.addAction(action)
    window.sample_actions.triggered.connect(actions.on_open_action)
    window.recent_menu = menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(actions.fill_recent_menu)
    window.recent_actions = QActionGroup(window)
    window.recent_actions.triggered.connect(actions.on_open_action)
    add_action(window, menu, "Load &reference…", actions.load_reference_dialog, None, "Set the clean image of a real noisy one")
    window.model_import = ModelImport(window)
    add_action(window, menu, "Import &model…", window.model_import.import_dialog, None,
               "Add a .pth, .pt, .ckpt or .safetensors denoiser of a known architecture as a method")
    menu.addSeparator()
    add_action(window, menu, "Add &noise…", actions.add_noise_dialog, "Ctrl+Shift+N", "Add synthetic noise; the clean image becomes the reference")
    menu.addSeparator()
    add_action(window, menu, "&Export selected…", exports.export_selected_dialog, "Ctrl+E")
    add_action(window, menu, "Export &all…", exports.export_all_dialog)
    add_action(window, menu, "Export &comparison…", exports.export_comparison_dialog)
    add_action(window, menu, "Export c&urve…", exports.export_curve_dialog)
    menu.addSeparator()
    add_action(window, menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)
