"""After an iterative run: the time machine's iterates, and "region first, then the whole image".

:class:`Iterates` shows the iterate the time machine (or a click on the curve) points at, adds a
kept iterate to the results like a finished run, and after a region result of an iterative
method offers to run the whole image with the same settings, ending where that result comes
from. What "the same settings, ending at iteration N" means is the method's answer
(``Method.kept_iteration`` and ``Method.repeat_until``), not the window's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Slot

from denoise_studio.core.method import Method
from denoise_studio.core.params import Params
from denoise_studio.core.result import Region, Result, measure
from denoise_studio.gui.time_machine import full_size

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow


@dataclass
class IterativeRun:
    """What the time machine's iterates come from: the run's method, settings and input."""

    method: Method[Any]
    params: Params
    seed: int
    source: str | None
    noise: dict[str, Any] | None
    region: Region | None


@dataclass
class WholeImagePlan:
    """The whole-image run offered after a region result."""

    method_id: str
    params: Params
    seed: int
    step: int


class Iterates(QObject):
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.run: IterativeRun | None = None
        self.plan: WholeImagePlan | None = None
        #: Seconds into the run at which each reported step was reached (from the live updates).
        self.times: dict[int, float] = {}

    def start(self, run: IterativeRun) -> None:
        """A new iterative run: its iterates replace the previous run's."""
        self.run = run
        self.times = {}

    def seconds_at(self, step: int) -> float:
        """The run's time at ``step``, interpolated between the steps the live updates reported."""
        known = sorted(self.times.items())
        if not known:
            return 0.0
        before = [(s, t) for s, t in known if s <= step]
        after = [(s, t) for s, t in known if s >= step]
        if not before:
            return after[0][1] * step / max(after[0][0], 1)
        if not after:
            return before[-1][1]
        (s0, t0), (s1, t1) = before[-1], after[0]
        return t0 if s1 == s0 else t0 + (t1 - t0) * (step - s0) / (s1 - s0)

    # -- the time machine -----------------------------------------------------------------

    def _iterate(self, step: int) -> np.ndarray:
        history = self.window.time_machine.history
        noisy = self.window.session.noisy
        assert history is not None and noisy is not None
        return np.clip(full_size(history.get(step), history.full_shape or noisy.shape), 0.0, 1.0).astype(np.float32)

    @Slot(int)
    def show_step(self, step: int) -> None:
        """Show a kept iterate as B (full resolution, or an enlarged preview)."""
        if self.window.time_machine.history is None or self.window.session.noisy is None:
            return
        try:
            image = self._iterate(step)
        except (KeyError, ValueError):
            return
        title = self.run.method.title if self.run is not None else "iterate"
        region = self.run.region if self.run is not None else None
        self.window.show_live(f"{title} @ {step}", image, region)
        self.window.curve.set_cursor(step)
        # The metrics follow the iterate on view, not the run's last one.
        noisy, reference = self.window.session.region(region)
        measured = measure(image, noisy, reference)
        self.window.metrics_view.set_metrics(measured.psnr, measured.ssim)
        self.window.metrics_view.set_heatmap(measured.heatmap, measured.heatmap_kind)

    @Slot(int)
    def keep_step(self, step: int) -> None:
        """Add a kept iterate to the results, like a finished run."""
        history, run = self.window.time_machine.history, self.run
        if history is None or run is None or self.window.session.noisy is None:
            return
        try:
            image = self._iterate(step)
        except (KeyError, ValueError) as exc:
            self.window.show_error(f"Iteration {step} is no longer kept: {exc}")
            return
        preview = not history.has_keyframe(step) and history.preview_shape != history.full_shape
        noisy, reference = self.window.session.region(run.region)
        # Its parameters repeat the run to this iteration and stop there: the sidecar replays it.
        params = run.method.repeat_until(run.params, step) or run.params
        result = Result(
            method_id=run.method.id,
            method_title=f"{run.method.title}{' (region)' if run.region is not None else ''} @ {step}",
            params=params, image=image, seed=run.seed, device=self.window.device, elapsed=self.seconds_at(step),
            iteration=step, preview=preview, final_step=step, region=run.region,
            input_source=run.source, noise=run.noise, reference_source=self.window.session.reference_source,
        )
        result.apply(measure(image, noisy, reference))
        note = " (enlarged from the preview)" if preview else ""
        self.window.add_result(result, f"Iteration {step} kept as {result.label}{note}")

    # -- region first, then the whole image -----------------------------------------------

    def offer_whole_image(self, result: Result) -> None:
        """After a region result of an iterative method, offer its stopping point for the whole image."""
        choice = self.window.choices.get(result.method_id)
        method = choice.method if choice is not None else None
        if result.region is None or method is None or result.params is None:
            self.withdraw()
            return
        step = result.iteration or method.kept_iteration(result.params, result.info, result.final_step)
        params = method.repeat_until(result.params, step) if step else None
        if step is None or params is None:
            self.withdraw()
            return
        self.plan = WholeImagePlan(result.method_id, params, result.seed, step)
        button = self.window.method_dock.whole_button
        button.setText(f"▶  Whole image, {step} iterations")
        button.setToolTip(
            f"Run {method.title} on the whole image with the same settings, stopping at\n"
            f"iteration {step}, where the region result {result.label} comes from"
        )
        button.setVisible(True)
        button.setEnabled(not self.window.is_running())

    def withdraw(self) -> None:
        self.plan = None
        self.window.method_dock.whole_button.setVisible(False)

    @Slot()
    def run_whole_image(self) -> bool:
        """Run the offered region result's method on the whole image, stopping where it was kept."""
        plan = self.plan
        if plan is None:
            return False
        self.window.method_dock.region_check.setChecked(False)
        started = self.window.start_run(plan.method_id, plan.params, seed=plan.seed)
        if started:
            self.withdraw()
        return started
