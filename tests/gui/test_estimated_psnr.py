"""The estimated PSNR (Monte-Carlo SURE) in the window: computed in the worker, shown in the metrics dock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core import metrics
from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.method import Method, RunContext, Snapshot
from denoise_studio.core.noise import add_noise
from denoise_studio.core.params import Params
from denoise_studio.gui.metrics_view import MetricsView
from denoise_studio.gui.worker import MethodWorker


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A noisy 8-bit PNG (σ 20, mid-tones, so little clips) and its clean image."""
    clean = load_image("sample:astronaut").pixels[40:168, 160:288] * 0.6 + 0.2
    path = tmp_path / "noisy photo.png"
    save_image(path, add_noise(clean, "gaussian", 20.0, 4))
    return path, clean


def test_a_photo_without_reference_shows_the_estimated_psnr(window, run_method, photo) -> None:  # type: ignore[no-untyped-def]
    path, clean = photo
    assert window.open_image(str(path))
    run_method("wavelet")
    entry = window.results.all()[0]
    assert entry.psnr is None and entry.estimate is not None and entry.estimate.valid
    assert entry.estimate.sigma_source == "estimated"
    # the file is 8-bit, so the σ found holds the rounding; the truth is measured against the clean image
    assert entry.estimate.psnr == pytest.approx(metrics.psnr(entry.image, clean.astype(np.float32)), abs=1.0)
    view = window.metrics_view
    assert view.psnr_label.text() == "—"
    assert view.estimate_label.text() == entry.estimate.text() and "±" in view.estimate_label.text()
    assert "estimated" in view.estimate_label.toolTip()
    assert "est." in window.results.list.item(0).text()


def test_with_a_reference_the_estimate_stands_beside_the_true_psnr(window, run_method, small_png: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("tv")
    entry = window.results.all()[0]
    assert entry.psnr is not None and entry.estimate is not None
    view = window.metrics_view
    assert view.psnr_label.text() == f"{entry.psnr:.2f} dB"
    # This crop (the astronaut's face, mid-grey values) keeps most pixels away from 0 and 1: valid.
    assert entry.estimate.valid, entry.estimate.reason
    assert entry.estimate.sigma == 25.0 and entry.estimate.sigma_source == "given"
    assert view.estimate_label.text() == entry.estimate.text() and view.estimate_label.text().endswith("dB")
    assert abs(entry.estimate.psnr - entry.psnr) < 1.5  # beside the true PSNR, and near it


def test_other_noise_gets_a_reason_not_a_number(window, run_method, small_png: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_image(str(small_png))
    window.add_noise("camera", 25.0, seed=0)
    run_method("wavelet")
    entry = window.results.all()[0]
    assert entry.estimate is not None and not entry.estimate.valid and "correlated" in entry.estimate.reason
    assert window.metrics_view.estimate_label.text() == "—"
    assert "correlated" in window.metrics_view.estimate_label.toolTip()


@dataclass(frozen=True)
class HalfParams(Params):
    pass


class ThreadRecorder(Method[HalfParams]):
    """A linear one-shot 'denoiser' (y ↦ y / 2) that records the thread of every run."""

    id, title, family, Params = "half", "Half", "Classical", HalfParams

    def __init__(self) -> None:
        self.threads: list[int] = []

    def run(self, noisy: np.ndarray, params: HalfParams, ctx: RunContext) -> Iterator[Snapshot]:
        self.threads.append(threading.get_ident())
        yield Snapshot(1, 1, image=(noisy * 0.5).astype(np.float32), final=True)


def test_the_probe_runs_happen_in_the_worker_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    noisy = add_noise(np.full((48, 40, 3), 0.5, np.float32), "gaussian", 10.0, 1, clip=False)
    method = ThreadRecorder()
    worker = MethodWorker(method, noisy, HalfParams(), estimate=True, noise={"model": "gaussian", "sigma": 10.0})
    order: list[str] = []
    estimates = []
    worker.returned.connect(lambda result: order.append("returned"))  # test-only recorders
    worker.estimated.connect(lambda estimate: (order.append("estimated"), estimates.append(estimate)))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=5000)
    qtbot.wait(20)
    assert len(method.threads) == 3 and threading.get_ident() not in method.threads  # the run and two probes
    assert order == ["returned", "estimated"]  # the result is shown before its two probe runs
    estimate = estimates[0]
    # f(y) = y/2 has divergence N/2: SURE = ‖y/2‖²/N − σ² + σ², exactly the identity below
    assert estimate.valid and estimate.mse == pytest.approx(float(np.mean((noisy.astype(np.float64) / 2) ** 2)), rel=0.02)


def test_metrics_view_clears_the_estimate(qtbot) -> None:  # type: ignore[no-untyped-def]
    from denoise_studio.core.quality import QualityEstimate, not_valid

    view = MetricsView()
    qtbot.addWidget(view)
    view.set_estimate(QualityEstimate(31.234, 0.04, 25.0, "given", 7.5e-4, 1.0, 2))
    assert view.estimate_label.text() == "31.23 ± 0.04 dB"
    view.set_estimate(not_valid("speckle is multiplicative noise"))
    assert view.estimate_label.text() == "—" and "speckle" in view.estimate_label.toolTip()
    view.clear()
    assert view.estimate_label.text() == "—"


def test_results_list_sorts_by_the_estimate(qtbot) -> None:  # type: ignore[no-untyped-def]
    from denoise_studio.core.quality import QualityEstimate, not_valid
    from denoise_studio.core.result import Result
    from denoise_studio.gui.results import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    image = np.zeros((8, 8, 3), np.float32)
    figures = {"a": 27.0, "b": None, "c": 31.5, "d": 29.0}
    for title, value in figures.items():
        estimate = QualityEstimate(value, 0.01, 20.0, "estimated") if value is not None else not_valid("JPEG")
        panel.add(Result(title, title, None, image, estimate=estimate))
    panel.select([panel.all()[0].id])
    panel.sort_by_estimate()
    assert [r.method_id for r in panel.all()] == ["c", "d", "a", "b"]
    assert [panel.get(i).method_id for i in panel.selected_ids()] == ["a"]  # the selection is kept
    assert "est. PSNR: 31.50" in panel.list.item(0).toolTip()
