"""What the window shows of a running job: progress, ETA, Stop and Cancel, the keep choice, live images.

:class:`RunView` receives the :class:`~denoise_studio.gui.run_controller.RunController`'s
signals and the Train dock's, and puts them on screen: the progress bar and ETA in the status
bar, the curve, the live image with its metrics, and the result when the run ends (after the
user's "On stop keep" choice, which the method interprets). The one Stop and the one Cancel
(:class:`~denoise_studio.gui.job_buttons.JobButtons`) end whichever job runs: a method run, a
folder run or the Train dock's training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QMessageBox, QProgressBar

from denoise_studio.core.params import Params
from denoise_studio.core.quality import QualityEstimate
from denoise_studio.core.result import HEATMAP_ERROR, HEATMAP_REMOVED, Result, measure
from denoise_studio.gui.compare import result_key
from denoise_studio.gui.dialogs import format_seconds
from denoise_studio.gui.job_buttons import ESTIMATE, FOLDER_RUN, ITERATIVE_RUN, ONE_SHOT_RUN, TRAINING, JobButtons, JobEnds
from denoise_studio.gui.worker import RunUpdate, TrainUpdate

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow


class RunView(QObject):
    """See the module docstring; the widgets are built here and placed by the window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.title = ""
        self._estimating: int | None = None  # the result whose estimate the current worker computes
        self.batch_total = 0
        self.last_summary = ""
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta_label = QLabel("")
        self.job_buttons = JobButtons()
        self.job_buttons.stop_clicked.connect(self.stop_job)
        self.job_buttons.cancel_clicked.connect(self.cancel_job)
        # What a stopped run keeps, for methods that offer a choice (a `keep` parameter whose
        # alternatives come back as maps of the final snapshot: DIP's averaged / raw / rule).
        self.keep_label = QLabel("On stop keep")
        self.keep_combo = QComboBox()
        self.keep_combo.setToolTip("Which output a stopped run keeps (can be changed while it runs)")
        self.set_keep_choices(None)

    def set_keep_choices(self, params_class: type[Params] | None, current: str | None = None) -> None:
        """Offer the `keep` parameter's choices next to Stop (hidden for other methods)."""
        spec = None
        if params_class is not None:
            spec = next((sp for sp in params_class.specs() if sp.name == "keep" and sp.choices), None)
        self.keep_combo.clear()
        if spec is not None:
            self.keep_combo.addItems(list(spec.choices or ()))
            self.keep_combo.setCurrentText(current or str(spec.default))
        self.keep_combo.setVisible(spec is not None)
        self.keep_label.setVisible(spec is not None)

    def started(self, title: str, iterative: bool, region: bool = False, folder: bool = False) -> None:
        """A run began: ``title`` names it on the curve and in the status bar (plus "(region)" in
        the messages about a region run); ``folder``: "Apply to folder…"."""
        self.title = title + (" (region)" if region else "")
        self.window.curve.reset(title)
        self.window.curve_dock.fit_height(self.window, iterative, running=True)
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.eta_label.setText("")
        self.set_running(True, iterative=iterative)
        if folder:
            self.job_buttons.show_job(FOLDER_RUN)
        self.window.statusBar().showMessage(f"Running {title}…")
        self.window.metrics_view.set_estimate(None)  # the last result's estimate is not this run's

    def set_running(self, running: bool, iterative: bool = False) -> None:
        window = self.window
        window.method_dock.set_running(running)
        self.job_buttons.show_job((ITERATIVE_RUN if iterative else ONE_SHOT_RUN) if running else None)
        if hasattr(window, "run_action"):
            window.run_action.setEnabled(not running)
            window.pause_action.setEnabled(running and iterative)
        window.curve.set_running(running, stoppable=iterative)
        self.progress.setTextVisible(running)
        if not running:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.eta_label.setText("")

    def _show_progress(self, step: int, total: int, eta: float | None, always_eta: bool) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(step, total))
            self.progress.setFormat("%v / %m")
            self.eta_label.setText(f"ETA {format_seconds(eta)}" if eta is not None or always_eta else "")

    @property
    def job(self) -> JobEnds | None:
        """What Stop and Cancel do for the job that runs now (``None``: nothing runs)."""
        return self.job_buttons.job

    @Slot()
    def stop_job(self) -> None:
        """Stop: end the job that runs and keep what it has made."""
        if self.job is TRAINING:
            self.window.train_dock.stop_training()
        else:
            self.window.stop_run()

    @Slot()
    def cancel_job(self) -> None:
        """Cancel: end the job that runs and discard it."""
        if self.job is TRAINING:
            answer = QMessageBox.question(self.window, "Cancel training",
                                          "Discard this training run? Nothing will be written (Stop keeps the best weights so far).")
            if answer == QMessageBox.StandardButton.Yes:
                self.window.train_dock.cancel_training()
        else:
            self.window.cancel_run()

    # -- the run's signals (main thread) -------------------------------------------------------

    @Slot(object)
    def on_yielded(self, update: RunUpdate) -> None:
        window = self.window
        self._show_progress(update.step, update.total, update.eta, always_eta=True)
        window.iterates.times[update.step] = update.elapsed
        if update.points:
            window.curve.add_points(update.points)
            window.time_machine.refresh()
        if update.image is not None and window.time_machine.following:
            window.show_live(f"{self.title} (live, {update.step}/{update.total})", update.image, window.run_region)
            if update.psnr is not None:
                window.metrics_view.set_metrics(update.psnr, update.ssim)
            if update.heatmap is not None:
                window.metrics_view.set_heatmap(update.heatmap, HEATMAP_ERROR if window.session.reference is not None else HEATMAP_REMOVED)
        if update.message:
            window.statusBar().showMessage(update.message)

    @Slot(object)
    def on_returned(self, result: Result) -> None:
        window, session = self.window, self.window.session
        self._apply_keep_choice(result)
        if window.run_region is not None:
            result.method_title += " (region)"
        result.region = window.run_region
        result.input_source, result.reference_source = session.source, session.reference_source
        result.noise = dict(session.noise) if session.noise else None
        if result.points:
            window.curve.set_status(f"{result.method_title}: {len(result.points)} points")
        figures = f", PSNR {result.psnr:.2f} dB" if result.psnr is not None else ""
        early = " (stopped early)" if result.stopped_early else ""
        window.add_result(result, f"{result.method_title} done in {result.elapsed:.1f} s{early}{figures}")
        # The estimate without a reference follows from the same worker (two more runs).
        self._estimating = result.id
        window.metrics_view.set_estimating()
        self.job_buttons.show_job(ESTIMATE)  # Stop or Cancel now only skip the two probe runs

    @Slot(object)
    def on_estimated(self, estimate: QualityEstimate) -> None:
        """The PSNR of the run's result estimated without a reference, which came after the result."""
        window = self.window
        result = window.results.entries.get(self._estimating) if self._estimating is not None else None
        self._estimating = None
        if result is None:  # removed, or another image's list meanwhile
            return
        result.estimate = estimate
        said = estimate.text() if estimate.valid else f"no estimate ({estimate.reason})"
        window.statusBar().showMessage(f"{result.method_title}: est. PSNR {said}", 10000)
        window.results.refresh(result.id)
        if window.compare_state.b_key == result_key(result.id):
            window.metrics_view.set_estimate(estimate)
        window.session_keeper.save()

    def _apply_keep_choice(self, result: Result) -> None:
        """If the user chose another output to keep than the run's parameter, swap it in (the method decides how)."""
        if not self.keep_combo.isVisible() or result.params is None:
            return
        choice = self.window.choices.get(result.method_id)
        method = choice.method if choice is not None else None
        kept = method.keep_output(result.params, result.maps, self.keep_combo.currentText()) if method is not None else None
        if kept is None or kept[0].shape != result.image.shape:
            return
        result.image, result.params = kept
        noisy, reference = self.window.session.region(self.window.run_region)
        result.apply(measure(result.image, noisy, reference))

    @Slot(str)
    def on_errored(self, message: str) -> None:
        self.window.refresh_viewer()
        self.window.show_error(message, "The run failed")

    @Slot()
    def on_aborted(self) -> None:
        self.window.refresh_viewer()  # put back what was shown before the live previews
        self.window.statusBar().showMessage(f"{self.title}: cancelled, result discarded", 6000)

    @Slot()
    def on_finished(self) -> None:
        window = self.window
        window.time_machine.refresh()
        self.set_running(False)
        if self._estimating is not None:  # the estimate was cancelled, or the run failed before it
            self._estimating = None
            window.metrics_view.set_estimate(None)
        window.curve.set_status(window.curve.status.text().replace("running…", "done"))
        window.run_finished.emit()

    # -- a folder ("Apply to folder…") ------------------------------------------------------------

    @Slot(object, int, int)
    def on_batch_progress(self, outcome: Any, index: int, total: int) -> None:
        self._show_progress(index, total, None, always_eta=False)
        self.window.statusBar().showMessage(f"{self.title}: file {index} of {total}, {outcome.input.name}: {outcome.status}")

    @Slot(object)
    def on_batch_returned(self, outcomes: list[Any]) -> None:
        """The summary: how many written, skipped and failed, and why each failure."""
        from denoise_studio.core.batch import FAILED, SKIPPED, WRITTEN

        counts = {status: sum(o.status == status for o in outcomes) for status in (WRITTEN, SKIPPED, FAILED)}
        folder = outcomes[0].output.parent if outcomes else ""
        text = (f"{counts[WRITTEN]} written, {counts[SKIPPED]} skipped (already there), {counts[FAILED]} failed"
                f"{' (stopped)' if len(outcomes) < self.batch_total else ''} into {folder}")
        self.last_summary = text
        failures = "\n".join(f"{o.input.name}: {o.message}" for o in outcomes if o.status == FAILED)
        self.window.statusBar().showMessage(f"{self.title}: {text}", 15000)
        if failures:
            self.window.show_error(f"{self.title}: {text}\n\n{failures}", "Apply to folder")

    # -- training (the Train dock) ----------------------------------------------------------------

    @Slot(str)
    def on_training_started(self, title: str) -> None:
        self.window.curve.reset(title)
        self.window.curve.set_running(False)
        self.job_buttons.show_job(TRAINING)
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.window.statusBar().showMessage(f"{title}…")

    @Slot(object)
    def on_training_progress(self, update: TrainUpdate) -> None:
        if update.points:
            self.window.curve.add_points(update.points)
        if not self.window.is_running() and update.total > 0:
            done = update.step / update.total
            self._show_progress(update.step, update.total, update.elapsed * (1 - done) / done if 0 < done < 1 else None, always_eta=False)
        best = f", best validation {update.best_psnr:.2f} dB" if update.best_psnr is not None else ""
        self.window.statusBar().showMessage(f"Training: step {update.step} / {update.total}{best}")

    @Slot(str, str)
    def on_weights_added(self, method_id: str, path: str) -> None:
        """New weights: the method's weights picker lists them at once (and it becomes available)."""
        self.window.selector.refresh_availability(method_id)
        panel = self.window.method_dock.panels.get(method_id)
        if panel is not None:
            panel.refresh_weights()

    @Slot(str)
    def on_training_ended(self, message: str) -> None:
        if not self.window.is_running():
            self.set_running(False)
        self.window.curve.set_status(self.window.curve.status.text().replace("running…", "done"))
        self.window.statusBar().showMessage(message, 10000)

    @Slot(str)
    def on_training_failed(self, message: str) -> None:
        self.window.show_error(message, "Training failed")
