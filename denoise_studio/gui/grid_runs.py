"""The comparison grid's queue: several methods run one after another on the same input.

:class:`GridRuns` starts each method through the window's own run path (``MainWindow.start_run``:
the cost check, the worker, the status bar's progress bar, Stop and Cancel), so each finished run
is an ordinary result in the results list, and one job runs at a time. The next method starts
when the previous run has fully ended (its PSNR estimate included). Stop ends the current method
early and keeps it (an iterative one); Cancel ends the whole queue; a new image or new noise ends
it too (the window retires the run). A method that fails or cannot start is skipped and named in
the summary.

Each method runs with its panel's values when the user has opened its panel, else with its
first try (``Method.starting_params``: Deep Image Prior with its stop rule and iteration cap), on
the selected region when "Region only" is ticked, else on the whole image.

The results show in the grid (:class:`~denoise_studio.gui.grid_view.GridView`), a tab beside the
A/B viewer in the middle of the window; a click on a pane shows that result as B against the
input in the viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QTabWidget

from denoise_studio.core.errors import UserError
from denoise_studio.core.params import Params
from denoise_studio.core.result import Region
from denoise_studio.gui.grid_picker import DEFAULT_BUDGET_SECONDS, GridCandidate, GridPicker, fitting_ids
from denoise_studio.gui.grid_view import GridView
from denoise_studio.gui.viewer_panes import to_display

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow
    from denoise_studio.gui.method_selector import MethodChoice

VIEWER_TAB = "A/B viewer"
GRID_TAB = "Comparison grid"


class GridRuns(QObject):
    """See the module docstring. Takes the window's central viewer into a tab of its own.

    Signals
    -------
    finished()
        The queue has ended: every method ran, or it was cancelled, or the input changed.
    """

    finished = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.view = GridView()
        self.view.painter = self._painted
        self.view.pane_clicked.connect(self.show_as_b)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)  # the tabs show once there is a grid
        self.tabs.addTab(window.takeCentralWidget(), VIEWER_TAB)
        window.setCentralWidget(self.tabs)
        self._queue: list[str] = []
        self._total = 0
        self._current: str | None = None
        self._worker: Any = None  # the current run's worker: was it cancelled?
        self._made_result = False
        self.failed: list[str] = []
        self.last_summary = ""
        self._picker: GridPicker | None = None
        window.method_dock.grid_button.clicked.connect(self.ask_and_start)
        window.run_finished.connect(self._on_run_finished)
        window.result_added.connect(self._on_result_added)
        window.results.removed.connect(self.view.remove_result)
        window.session.subscribe(self._on_session_changed)

    def is_running(self) -> bool:
        return self._current is not None

    # -- what can run -------------------------------------------------------------------------

    def region(self) -> Region | None:
        """The rectangle the grid runs on (the Method dock's "Region only"), None for the whole image."""
        return self.window.viewer.selected_region() if self.window.method_dock.region_wanted() else None

    def params_for(self, method_id: str) -> Params:
        """The panel's values if the user opened the method's panel, else its first try here."""
        window = self.window
        panel = window.method_dock.panels.get(method_id)
        if panel is not None:
            return panel.values()  # type: ignore[no-any-return]
        method = window.choices[method_id].method
        assert method is not None
        return method.starting_params(window.session.noisy, window.device)

    def candidates(self) -> list[GridCandidate]:
        """Every method of the window with its parameters and its time here, or why it cannot run."""
        from denoise_studio.core.device import available_memory

        noisy, _ = self.window.session.region(self.region())
        if noisy is None:
            return []
        try:
            free: int | None = available_memory(self.window.device)
        except Exception:  # noqa: BLE001 - the memory check is advice; the run reports real errors
            free = None
        return [self._candidate(method_id, choice, noisy.shape, free) for method_id, choice in self.window.choices.items()]

    def _candidate(self, method_id: str, choice: MethodChoice, shape: tuple[int, ...], free: int | None) -> GridCandidate:
        from denoise_studio.core.cost import judge
        from denoise_studio.core.quality import PROBES, noise_validity

        title, method = choice.entry.title, choice.method
        if not choice.available or method is None:
            return GridCandidate(method_id, title, reason=choice.reason or "not available")
        try:
            params = self.params_for(method_id)
            method.check_input(shape)
        except UserError as exc:
            return GridCandidate(method_id, title, reason=str(exc))
        try:
            estimate = method.estimate_cost(shape, params, self.window.device)
        except Exception:  # noqa: BLE001 - an estimate is advice: unknown, then
            return GridCandidate(method_id, title, params, iterative=method.iterative)
        if free is not None and judge(estimate, free).level == "refuse":
            return GridCandidate(method_id, title, params, reason=f"it needs {estimate.describe()}, more than the free memory")
        session = self.window.session
        estimated = noise_validity((session.noise or {}).get("model"), iterative=method.iterative, source=session.source) is None
        seconds = None if estimate.seconds is None else estimate.seconds * (1 + PROBES if estimated else 1)
        return GridCandidate(method_id, title, params, seconds, iterative=method.iterative)

    # -- the picker ---------------------------------------------------------------------------

    @Slot()
    def ask_and_start(self) -> None:
        """Run → Compare in a grid…: the method picker (not modal); its Run starts the queue."""
        window = self.window
        if window.session.noisy is None or window.method_loading.is_loading():
            window.statusBar().showMessage("Open an image and let the methods load first.", 5000)
            return
        region = self.region()
        where = f"the selected region ({region[2]}×{region[3]})" if region else "the whole image"
        saved = window.settings.value("grid/methods")
        ticked = [str(v) for v in ([saved] if isinstance(saved, str) else saved)] if saved else None
        budget = int(window.settings.value("grid/budget", DEFAULT_BUDGET_SECONDS) or DEFAULT_BUDGET_SECONDS)
        self._picker = GridPicker(window, self.candidates(), where, ticked, budget)
        self._picker.accepted.connect(self._on_picked)
        self._picker.open()

    @Slot()
    def _on_picked(self) -> None:
        picker = self._picker
        if picker is None:
            return
        chosen = picker.chosen_ids()
        self.window.settings.setValue("grid/methods", chosen)
        self.window.settings.setValue("grid/budget", picker.budget.value())
        picker.deleteLater()
        self._picker = None
        self.start(chosen)

    def fitting_ids(self, budget_seconds: float) -> list[str]:
        """The methods "all that fit in ``budget_seconds``" would tick here."""
        return fitting_ids(self.candidates(), budget_seconds)

    # -- the queue ----------------------------------------------------------------------------

    def start(self, method_ids: Sequence[str]) -> bool:
        """Run these methods one after another into a new grid; False (with a message) if not now."""
        window = self.window
        busy = window.runs.busy_reason()
        if busy is not None:
            window.statusBar().showMessage(busy, 5000)
            return False
        if window.session.noisy is None:
            window.show_error("Open an image first.")
            return False
        self._queue = list(dict.fromkeys(method_ids))
        if not self._queue:
            window.statusBar().showMessage("Choose at least one method for the grid.", 5000)
            return False
        self._total, self.failed = len(self._queue), []
        self.view.clear()
        self.show_grid()
        self._start_next()
        return True

    def cancel(self) -> None:
        """End the queue: the current run is cancelled (its result discarded), the rest not started."""
        self._queue = []
        if self._current is not None:
            self.window.cancel_run()

    def _start_next(self) -> None:
        window = self.window
        while self._queue:
            method_id = self._queue.pop(0)
            index = self._total - len(self._queue)
            params = self._params_or_say_why(method_id)
            if params is not None and self._start_run(method_id, params):
                self._current, self._worker, self._made_result = method_id, window.runs.worker, False
                title = window.choices[method_id].entry.title
                self.view.set_note(f"Running {index} of {self._total}: {title}…")
                window.statusBar().showMessage(f"Comparison grid, {index} of {self._total}: running {title}…")
                return
            self.failed.append(method_id)
        self._end("")

    def _params_or_say_why(self, method_id: str) -> Params | None:
        """:meth:`params_for`, or None with a message when the method cannot run here."""
        choice = self.window.choices.get(method_id)
        if choice is None or not choice.available or choice.method is None:
            reason = choice.reason if choice is not None else "it is not a method of this window"
            self.window.show_error(f"{choice.entry.title if choice else method_id} cannot run here: {reason}", "Compare in a grid")
            return None
        try:
            return self.params_for(method_id)
        except UserError as exc:
            self.window.show_error(f"{choice.entry.title}: {exc}", "Compare in a grid")
            return None

    def _start_run(self, method_id: str, params: Params) -> bool:
        """The window's run path without its question about a long run: the picker showed each cost
        and the user chose (a run that cannot fit is still refused, with a message)."""
        window = self.window
        confirm, window.confirm_costly_runs = window.confirm_costly_runs, False
        try:
            return window.start_run(method_id, params)
        finally:
            window.confirm_costly_runs = confirm

    def _end(self, how: str) -> None:
        self._queue, self._current, self._worker = [], None, None
        made = len(self.view.result_ids())
        failed = f", {len(self.failed)} failed or skipped ({', '.join(self.failed)})" if self.failed else ""
        self.last_summary = f"Comparison grid: {made} result{'s' if made != 1 else ''}{failed}{how}"
        self.view.set_note("")
        self.window.statusBar().showMessage(self.last_summary, 15000)
        self.finished.emit()

    # -- the grid -----------------------------------------------------------------------------

    def show_grid(self) -> None:
        if self.tabs.indexOf(self.view) < 0:
            self.tabs.addTab(self.view, GRID_TAB)
        self.tabs.setCurrentWidget(self.view)

    def show_viewer(self) -> None:
        self.tabs.setCurrentIndex(0)

    def grid_shown(self) -> bool:
        return self.tabs.currentWidget() is self.view

    @Slot(int)
    def show_as_b(self, result_id: int) -> None:
        """A pane was clicked: its result becomes B against the input, in the A/B viewer."""
        window = self.window
        if result_id not in window.results.entries:
            return
        window.show_result(result_id)
        window.results.select([result_id])
        self.show_viewer()

    def _painted(self, image: Any) -> Any:
        viewer = self.window.viewer
        return to_display(image, viewer.colour_profile, viewer.alpha)

    # -- the window's signals -------------------------------------------------------------------

    @Slot(int)
    def _on_result_added(self, result_id: int) -> None:
        result = self.window.results.entries.get(result_id)
        if self._current is not None and result is not None and result.method_id == self._current:
            self._made_result = True
            self.view.add_result(result)

    @Slot()
    def _on_run_finished(self) -> None:
        if self._current is None:
            return
        self.view.refresh()  # the PSNR estimate came after the result
        if self._worker is not None and self._worker.cancelled:
            self._end(" (cancelled)")
            return
        if not self._made_result:
            self.failed.append(self._current)
        self._current = None
        self._start_next()  # at once: no other job can slip in between

    def _on_session_changed(self, part: str) -> None:
        if part == "input":
            self.view.clear()  # the results of another image
            if self.tabs.indexOf(self.view) >= 0:
                self.tabs.removeTab(self.tabs.indexOf(self.view))
        if (part in ("input", "noise")) and (self._current is not None or self._queue):
            self._end(" (ended: the input changed)")
