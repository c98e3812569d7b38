"""The image viewer's modes and region API, the worker's signals, the curve panel."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_studio.gui.curve_dock import CurvePanel
from denoise_studio.gui.image_viewer import ImageViewer
from denoise_studio.gui.worker import CurvePoint, MethodWorker, running_threads


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.random((31, 37, 3), dtype=np.float32)
    return a, np.clip(a + 0.1, 0, 1).astype(np.float32)


@pytest.fixture
def viewer(qtbot):  # type: ignore[no-untyped-def]
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(600, 400)
    v.show()
    return v


def test_single_image_has_one_pane_and_a_readout(viewer, pair) -> None:
    a, _ = pair
    viewer.set_images([("A", a)])
    assert viewer.effective_mode() == "single" and len(viewer.views()) == 1
    text = viewer.readout_at(5, 7)
    assert "x     5  y     7" in text
    assert f"{a[7, 5, 0] * 255:5.1f}" in text
    assert "outside" in viewer.readout_at(-1, 3)


def test_split_clips_b_at_the_divider(viewer, pair) -> None:
    a, b = pair
    viewer.set_images([("a", a), ("b", b)])
    viewer.set_mode("split")
    viewer.set_divider(0.5)
    assert viewer._clip.rect().x() == pytest.approx(37 * 0.5)
    viewer._split_line.setValue(10)
    assert viewer.divider == pytest.approx(10 / 37)
    assert viewer._clip.rect().width() == pytest.approx(27)


def test_live_update_keeps_zoom(viewer, pair) -> None:
    a, b = pair
    viewer.set_images([("a", a), ("b", b)])
    viewer.views()[0].setRange(xRange=(5, 15), yRange=(5, 15), padding=0)
    before = viewer.view_range()
    viewer.set_image(1, "b live", a)
    assert np.allclose(viewer.view_range(), before)
    assert viewer.labels() == ["a", "b live"]


def test_images_of_different_sizes_fall_back_to_side_by_side(viewer, pair) -> None:
    a, _ = pair
    viewer.set_images([("a", a), ("small", a[:10, :10])])
    viewer.set_mode("difference")
    assert viewer.effective_mode() == "side" and len(viewer.views()) == 2


def test_one_to_one_makes_an_image_pixel_a_screen_pixel(viewer, pair) -> None:
    a, _ = pair
    viewer.set_images([("a", a)])
    viewer.fit()
    viewer.actual_size()
    px, py = viewer.views()[0].viewPixelSize()
    assert px == pytest.approx(1.0, rel=0.02) and py == pytest.approx(1.0, rel=0.02)


def test_region_selection_api(viewer, pair, qtbot) -> None:
    a, _ = pair
    viewer.set_images([("a", a)])
    with qtbot.waitSignal(viewer.region_selected) as blocker:
        viewer.set_region((30, 20, 50, 50))
    assert blocker.args == [(30, 20, 7, 11)]  # clipped to the 37×31 image
    assert viewer.selected_region() == (30, 20, 7, 11)
    assert viewer.region_button.isChecked()
    viewer._roi.setPos((2, 3), finish=True)
    assert viewer.selected_region()[:2] == (2, 3)
    with qtbot.waitSignal(viewer.region_selected) as blocker:
        viewer.set_region(None)
    assert blocker.args == [None] and viewer.selected_region() is None


# ------------------------------------------------------------------------------ worker


def _run_worker(qtbot, worker: MethodWorker) -> dict[str, list]:  # type: ignore[no-untyped-def]
    seen: dict[str, list] = {"yielded": [], "returned": [], "errored": [], "aborted": [], "order": []}

    # Test-only recorders; the window connects to bound slots.
    worker.yielded.connect(lambda u: (seen["yielded"].append(u), seen["order"].append("yielded")))
    worker.returned.connect(lambda r: (seen["returned"].append(r), seen["order"].append("returned")))
    worker.errored.connect(lambda m: (seen["errored"].append(m), seen["order"].append("errored")))
    worker.aborted.connect(lambda: (seen["aborted"].append(True), seen["order"].append("aborted")))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=5000)
    qtbot.wait(20)  # deliver the queued signals
    return seen


def test_worker_batches_points_and_throttles_images(qtbot, small_rgb, choices) -> None:
    method = choices["slow"].method
    params = method.Params(iterations=200, delay=0.001)
    reference = small_rgb
    worker = MethodWorker(type(method)(), small_rgb, params, reference=reference, image_rate_hz=20)
    seen = _run_worker(qtbot, worker)
    assert seen["order"][-1] == "returned" and not seen["errored"]
    points = [p for u in seen["yielded"] for p in u.points]
    assert [p.step for p in points] == list(range(1, 201))  # every step, none lost
    with_images = [u for u in seen["yielded"] if u.image is not None]
    result = seen["returned"][0]
    # At most 20 images a second (plus the first), however many steps the method yields.
    assert 1 <= len(with_images) <= result.elapsed * 20 + 2 < 200
    assert all(u.psnr is not None and u.ssim is not None and u.heatmap is not None for u in with_images)
    assert result.psnr is not None and not result.stopped_early
    assert running_threads() == []


def test_worker_cancel_aborts_and_stop_returns(qtbot, small_rgb, choices) -> None:
    method = choices["slow"].method
    params = method.Params(iterations=100_000, delay=0.001)
    for action, expected in (("cancel", "aborted"), ("stop", "returned")):
        worker = MethodWorker(type(method)(), small_rgb, params)
        worker.yielded.connect(worker.cancel if action == "cancel" else worker.stop)
        seen = _run_worker(qtbot, worker)
        assert expected in seen["order"]
        assert not ({"aborted", "returned"} - {expected}) & set(seen["order"])
        if action == "stop":
            assert seen["returned"][0].stopped_early
            assert seen["returned"][0].sigma_result is not None  # no reference: σ estimates
            assert seen["returned"][0].heatmap_kind == "removed"


def test_worker_reports_errors_as_messages(qtbot, small_rgb, choices) -> None:
    method = choices["broken"].method
    worker = MethodWorker(type(method)(), small_rgb, method.Params())
    seen = _run_worker(qtbot, worker)
    assert seen["order"] == ["errored"]
    assert "deliberate failure" in seen["errored"][0]


# ------------------------------------------------------------------------------ curve panel


def test_curve_panel_plots_every_key_and_marks_events(qtbot) -> None:
    panel = CurvePanel()
    qtbot.addWidget(panel)
    points = [CurvePoint(step=i, loss=1 / i, scalars={"psnr_noisy": 20 + i, "variance": 0.1 / i},
                         events=("es-wmv",) if i == 4 else ()) for i in range(1, 6)]
    panel.add_points(points[:2])
    panel.add_points(points[2:])
    series = panel.series()
    assert series["loss"][0] == [1, 2, 3, 4, 5]
    assert series["psnr_noisy"][1] == [21, 22, 23, 24, 25]
    assert panel._curves["variance"] in panel.right.addedItems  # second (right) axis
    assert panel._curves["psnr_noisy"] in panel.quality.items
    assert panel.events() == [(4, "es-wmv")]
    csv_text = panel.to_csv().splitlines()
    assert csv_text[0] == "step,loss,psnr_noisy,variance,events"
    assert csv_text[4].endswith(",es-wmv")
    panel.reset()
    assert not panel.has_data() and panel.events() == []


def test_curve_colours_do_not_depend_on_which_key_comes_first(qtbot) -> None:
    colours = []
    for order in (("loss", "psnr_ref", "variance_emv"), ("variance_emv", "psnr_ref", "loss")):
        panel = CurvePanel()
        qtbot.addWidget(panel)
        for key in order:
            panel._curve(key)
        colours.append({k: panel._curves[k].opts["pen"].color().name() for k in order})
    assert colours[0] == colours[1]
    assert len(set(colours[0].values())) == 3


def test_a_new_image_size_is_fitted_once_painted(viewer, qtbot) -> None:
    big = np.zeros((200, 300, 3), np.float32)
    small = np.full((40, 60, 3), 0.5, np.float32)
    viewer.set_images([("A", big), ("B", big)])
    viewer.fit()
    viewer.set_images([("A", small), ("B", small)])  # e.g. a region result beside its crop
    (x0, x1), (y0, y1) = viewer.view_range()
    # The whole 60×40 image is in view, and it fills most of the view.
    assert x0 <= 0 and x1 >= 60 and y0 <= 0 and y1 >= 40
    assert min(x1 - x0, (y1 - y0) * 60 / 40) < 60 * 1.5
