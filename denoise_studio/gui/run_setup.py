"""Before a run starts: the method and its parameters, the time machine's store, the cost check.

Each refusal is shown to the user with its reason; nothing here starts a thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from denoise_studio.core.errors import UserError
from denoise_studio.core.method import Method
from denoise_studio.core.params import ParamError, Params
from denoise_studio.core.result import Region
from denoise_studio.gui.iterates import IterativeRun

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

#: The time machine's memory budget (1 GB by default; the setting ``history/budget_mb``).
HISTORY_BUDGET_MB = 1024


def prepare_run(window: MainWindow, method_id: str | None, params: Params | None) -> tuple[Method[Any], Params] | None:
    """A fresh instance of the method and its parameters; None (with a message) if it cannot run."""
    if window.method_loading.is_loading():
        window.statusBar().showMessage("The methods are still loading: Run waits for them.", 5000)
        return None
    if window.session.noisy is None:
        window.show_error("Open an image first.")
        return None
    method_id = method_id or window.current_method_id()
    if method_id is None or method_id not in window.choices:
        window.show_error("Choose a method first.")
        return None
    choice = window.choices[method_id]
    if not choice.available or choice.method is None:
        window.show_error(f"{choice.entry.title} cannot run here: {choice.reason}")
        return None
    if params is None:
        panel = window.param_panel(method_id)
        try:
            params = panel.values() if panel is not None else choice.method.default_params(window.session.noisy)
        except ParamError as exc:
            window.show_error(f"Invalid parameter: {exc}")
            return None
    try:
        return type(choice.method)(), params  # the selector's instance only answers availability
    except Exception as exc:  # noqa: BLE001
        window.show_error(f"{choice.entry.title} cannot be loaded: {exc}")
        return None


def new_history(window: MainWindow, method: Method[Any], params: Params, seed: int, region: Region | None) -> Any:
    """The time machine's store of iterates for an iterative run (None for one-shot methods)."""
    history = None
    if method.iterative:
        from denoise_studio.core.history import IterateHistory

        budget_mb = int(window.settings.value("history/budget_mb", HISTORY_BUDGET_MB) or HISTORY_BUDGET_MB)
        history = IterateHistory(budget_bytes=budget_mb << 20)
        noise = dict(window.session.noise) if window.session.noise else None
        window.iterates.start(IterativeRun(method, params, seed, window.session.source, noise, region))
    window.time_machine.set_history(history)
    return history


def cost_is_acceptable(window: MainWindow, method: Method[Any], shape: tuple[int, ...], params: Params) -> bool:
    """Estimate the run's memory and time first: refuse what cannot fit, ask about what is large."""
    from denoise_studio.core.cost import assess

    try:
        method.check_input(shape)
    except UserError as exc:
        window.show_error(str(exc), "The image is too small")
        return False
    verdict = assess(method, shape, params, window.device, stoppable=method.iterative)
    if verdict.level == "refuse":
        window.show_error(verdict.message, "Not enough memory for this run")
        return False
    if verdict.level == "warn":
        if not window.confirm_costly_runs:
            window.statusBar().showMessage(verdict.message, 10000)
            return True
        answer = QMessageBox.question(
            window, "A large run", verdict.message + "\n\nRun it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
    return True
