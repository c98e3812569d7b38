"""The Studio window driven as a user would: open, add noise, run, compare, export, cancel."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from denoise_studio.core import metrics
from denoise_studio.core.image import load_image
from denoise_studio.core.noise import add_noise
from denoise_studio.core.sidecar import sidecar_path
from denoise_studio.gui import worker as worker_module
from denoise_studio.gui.main_window import MainWindow


def test_window_opens_with_a_sample(window) -> None:
    assert window.source == "sample:astronaut"
    assert window.noisy.shape == (512, 512, 3)
    assert window.viewer.labels() == ["Input"]
    assert "astronaut" in window.windowTitle()
    assert window.device_picker.summary().startswith("CPU · ")
    assert window.current_method_id() == "nlm"


def test_method_selector_groups_by_family_and_greys_unavailable(window) -> None:
    tree = window.selector.tree
    families = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert families[0] == "Classical"
    assert len(families) == len(set(families))
    for method_id, choice in window.choices.items():
        assert window.selector.is_enabled(method_id) == choice.available
        if not choice.available:
            assert choice.reason and choice.reason in window.selector.tooltip(method_id)
            assert not window.select_method(method_id)


def test_add_noise_makes_the_clean_image_the_reference(window) -> None:
    clean = window.noisy.copy()
    window.add_noise("gaussian", 25.0, seed=3)
    assert window.reference is not None and np.array_equal(window.reference, clean)
    assert np.array_equal(window.noisy, add_noise(clean, "gaussian", 25.0, 3))
    assert (window.noisy != clean).mean() > 0.9
    assert window.viewer.labels()[:2] == ["Noisy input", "Reference"]
    assert "dB" in window.metrics_view.baseline_label.text()
    # Adding noise again replaces it rather than piling it up.
    window.add_noise("gaussian", 5.0, seed=3)
    assert np.array_equal(window.reference, clean)
    assert np.array_equal(window.noisy, add_noise(clean, "gaussian", 5.0, 3))
    window.add_noise("salt-pepper", 25.0, seed=1)
    assert np.array_equal(window.noisy, add_noise(clean, "salt-pepper", 25.0, 1))


def test_run_nlm_through_the_window(window, run_method, small_png: Path) -> None:
    assert window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    noisy_psnr = metrics.psnr(window.noisy, window.reference)
    run_method("nlm")
    assert window.results.count() == 1
    entry = window.results.all()[0]
    assert entry.method_id == "nlm" and entry.params == window.param_panel("nlm").values()
    assert entry.psnr == pytest.approx(metrics.psnr(entry.image, window.reference))
    assert entry.psnr > noisy_psnr + 3  # NLM removes a good part of σ = 25 noise
    assert window.metrics_view.psnr_label.text() == f"{entry.psnr:.2f} dB"
    assert window.metrics_view.ssim_label.text() == f"{entry.ssim:.4f}"
    assert window.viewer.labels()[:2] == ["Noisy input", entry.label]
    assert f"{entry.psnr:.2f} dB" in window.results.list.item(0).text()
    assert not window.cancel_button.isVisible()


def test_compare_any_two_results_in_every_mode(window, run_method, small_png: Path, qtbot) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 20.0, seed=1)
    run_method("nlm")
    run_method("gaussian")  # switching methods keeps the earlier result
    first, second = window.results.all()
    assert window.results.count() == 2
    window.results.select([first.id, second.id])
    qtbot.mouseClick(window.results.compare_button, Qt.MouseButton.LeftButton)
    assert window.viewer.labels()[:2] == [first.label, second.label]
    assert window.a_combo.currentText() == first.label and window.b_combo.currentText() == second.label

    viewer = window.viewer
    viewer.set_mode("side")
    assert len(viewer.views()) >= 2
    viewer.views()[0].setRange(xRange=(10, 30), yRange=(10, 30), padding=0)
    x0, x1 = viewer.views()[1].viewRange()[0]
    assert (x0, x1) == pytest.approx((10, 30), abs=1.0)  # panes are locked together

    viewer.set_mode("difference")
    shown = viewer.views()[0].addedItems[0].image
    expected = (second.image - first.image).mean(axis=2) * 255
    assert np.allclose(shown, expected, atol=1e-4)

    viewer.set_mode("blink")
    items = [i for i in viewer.views()[0].addedItems if hasattr(i, "image")]
    before = viewer.blink_shows_b
    qtbot.keyClick(viewer, Qt.Key.Key_B)
    assert viewer.blink_shows_b != before
    assert items[1].isVisible() == viewer.blink_shows_b
    qtbot.keyClick(viewer.graphics, Qt.Key.Key_B)  # from the image itself, the key reaches the viewer
    assert viewer.blink_shows_b == before

    viewer.set_mode("split")
    viewer.set_divider(0.25)
    assert viewer.divider == pytest.approx(0.25)


def test_export_writes_the_image_and_a_correct_sidecar(window, run_method, small_png: Path, tmp_path: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=7)
    window.seed_spin.setValue(5)
    run_method("nlm")
    entry = window.results.all()[0]

    out = tmp_path / "out" / "nlm result.png"
    out.parent.mkdir()
    assert window.exports.export_result(entry.id, out) == out
    written = load_image(out)
    assert np.abs(written.pixels - entry.image).max() <= 0.5 / 255 + 1e-6
    record = json.loads(sidecar_path(out).read_text())
    assert record["method"] == "nlm"
    assert record["params"] == entry.params.to_dict()
    assert record["seed"] == 5
    assert record["input"] == str(small_png.resolve())
    assert record["metrics"]["psnr"] == pytest.approx(entry.psnr)
    assert record["metrics"]["ssim"] == pytest.approx(entry.ssim)
    assert record["extra"]["noise"] == {"model": "gaussian", "sigma": 25.0, "seed": 7}
    assert "numpy" in record["versions"]

    tiff = window.exports.export_result(entry.id, tmp_path / "deep.tif", bit_depth=16)
    assert tiff is not None and load_image(tiff).bit_depth == 16
    jpeg = window.exports.export_result(entry.id, tmp_path / "small.jpg", jpeg_quality=40)
    assert jpeg is not None and json.loads(sidecar_path(jpeg).read_text())["extra"]["jpeg_quality"] == 40


def test_export_never_overwrites_the_input_and_asks_for_others(window, run_method, small_png: Path, tmp_path: Path, monkeypatch) -> None:
    window.open_image(str(small_png))
    run_method("gaussian")
    entry = window.results.all()[0]
    original = small_png.read_bytes()
    assert window.exports.export_result(entry.id, small_png) is None
    assert small_png.read_bytes() == original
    assert "input" in window.last_error

    other = tmp_path / "existing.png"
    other.write_bytes(b"keep me")
    asked = []
    monkeypatch.setattr(window.exports, "confirm_overwrite", lambda path: asked.append(path) or False)
    assert window.exports.export_result(entry.id, other) is None
    assert other.read_bytes() == b"keep me" and asked == [other]
    monkeypatch.setattr(window.exports, "confirm_overwrite", lambda path: True)
    assert window.exports.export_result(entry.id, other) == other
    assert other.read_bytes() != b"keep me"


def test_export_all_comparison_and_curve(window, run_method, small_png: Path, tmp_path: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("nlm")
    run_method("slow", params=window.choices["slow"].method.Params(iterations=30, delay=0.0))
    written = window.exports.export_all(tmp_path)
    assert len(written) == 2 and all(sidecar_path(p).is_file() for p in written)

    first, second = window.results.all()
    window.compare(f"result:{first.id}", f"result:{second.id}")
    comparison = window.exports.export_comparison(tmp_path / "comparison.png")
    image = load_image(comparison).pixels
    h, w = window.noisy.shape[:2]
    assert image.shape[0] > h and image.shape[1] >= 3 * w  # A, B and the reference, labelled above
    assert np.abs(image[-h:, :w] - first.image).max() <= 1.0 / 255 + 1e-6

    result = window.exports.export_curve(tmp_path / "curve.csv")
    assert result is not None
    csv_path, png_path = result
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",")[:2] == ["step", "loss"] and "variance" in lines[0] and "psnr" in lines[0]
    assert len(lines) == 1 + 30
    assert "guard" in csv_path.read_text()
    assert load_image(png_path).width > 100


def test_cancel_a_long_run_discards_it(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.select_method("slow")
    slow = window.choices["slow"].method
    with qtbot.waitSignal(window.run_finished, timeout=10_000):
        assert window.start_run(params=slow.Params(iterations=100_000, delay=0.002))
        assert window.cancel_button.isVisible()
        qtbot.waitUntil(lambda: window.curve.has_data(), timeout=5000)
        assert window.is_running()
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert window.worker is None
    assert window.results.count() == 0
    assert worker_module.running_threads() == []
    assert window.viewer.labels() == ["Input"]  # the live preview is taken down


def test_opening_an_image_mid_run_never_waits_for_the_run(window, qtbot, small_png: Path) -> None:
    """A method that cannot stop mid-step (BM3D, one long step here) must not block the window."""
    window.open_image(str(small_png))
    window.select_method("slow")
    slow = window.choices["slow"].method
    assert window.start_run(params=slow.Params(iterations=3, delay=0.8))
    qtbot.waitUntil(lambda: window.curve.has_data(), timeout=5000)  # now inside the second step
    start = time.perf_counter()
    assert window.open_image("sample:camera")
    assert time.perf_counter() - start < 0.4
    assert window.worker is None and not window.is_running()
    assert window.run_button.isEnabled()
    qtbot.waitUntil(lambda: not window._retired, timeout=5000)
    qtbot.wait(50)  # let any queued signal of the retired run arrive
    assert window.results.count() == 0
    assert window.noisy.shape[2] == 1  # the camera sample, untouched by the old run
    assert worker_module.running_threads() == []


def test_stop_keeps_the_result_so_far(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    window.select_method("slow")
    slow = window.choices["slow"].method
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        assert window.start_run(params=slow.Params(iterations=100_000, delay=0.002))
        qtbot.waitUntil(lambda: len(window.curve.series().get("loss", ([], []))[0]) >= 5, timeout=5000)
        qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    entry = window.results.all()[0]
    assert entry.stopped_early and entry.final_step < 100_000
    series = window.curve.series()
    assert {"loss", "variance", "psnr"} <= set(series)
    assert (3, "guard") in window.curve.events()


def test_pause_holds_the_run(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.select_method("slow")
    slow = window.choices["slow"].method
    with qtbot.waitSignal(window.run_finished, timeout=10_000):
        window.start_run(params=slow.Params(iterations=100_000, delay=0.001))
        qtbot.waitUntil(lambda: window.curve.has_data(), timeout=5000)
        window.curve.pause_button.click()
        assert window.worker.paused
        qtbot.wait(150)
        steps = len(window.curve.series()["loss"][0])
        qtbot.wait(300)
        assert len(window.curve.series()["loss"][0]) <= steps + 1
        window.curve.pause_button.click()
        qtbot.waitUntil(lambda: len(window.curve.series()["loss"][0]) > steps + 5, timeout=5000)
        window.cancel_run()


def test_a_corrupt_file_shows_an_error_and_the_window_keeps_working(window, run_method, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    before = window.source
    assert not window.open_image(str(bad))
    assert "broken.png" in window.last_error
    assert window._error_box is not None and window._error_box.isVisible()
    window._error_box.close()
    assert window.source == before and window.noisy is not None
    window.add_noise("gaussian", 10.0)
    run_method("gaussian")
    assert window.results.count() == 1


def test_an_error_inside_a_method_becomes_a_message(window, run_method, small_png: Path) -> None:
    window.open_image(str(small_png))
    run_method("broken")
    assert "deliberate failure" in window.last_error
    assert window.results.count() == 0
    assert window.run_button.isEnabled()
    window._error_box.close()


def test_invalid_parameters_are_reported_not_run(window) -> None:
    window.select_method("nlm")
    panel = window.param_panel("nlm")
    field = panel.fields["patch_size"]
    field.auto.setChecked(False)
    field.editor.setValue(4)  # even: NLMParams refuses it
    assert not window.start_run()
    assert "odd" in window.last_error
    assert window.worker is None


def test_closing_the_window_cancels_and_waits(qtbot, settings: QSettings, choices, small_png: Path) -> None:
    win = MainWindow(settings=settings, choices=choices, initial=str(small_png))
    qtbot.addWidget(win)
    win.show()
    win.select_method("slow")
    win.start_run(params=choices["slow"].method.Params(iterations=100_000, delay=0.002))
    qtbot.waitUntil(lambda: win.curve.has_data(), timeout=5000)
    win.close()
    assert win.worker is None
    assert worker_module.running_threads() == []


def test_settings_persist_method_parameters_and_recent_files(qtbot, settings: QSettings, choices, small_png: Path) -> None:
    win = MainWindow(settings=settings, choices=choices, initial=str(small_png))
    qtbot.addWidget(win)
    win.select_method("bilateral")
    panel = win.param_panel("bilateral")
    name = next(n for n, f in panel.fields.items() if f.spec.type in (int, float) and f.spec.minimum is not None)
    spec = panel.fields[name].spec
    if panel.fields[name].auto is not None:
        panel.fields[name].auto.setChecked(False)
    panel.fields[name].editor.setValue(spec.maximum)
    expected = panel.values()
    win.show()
    win.results_dock.hide()  # a layout change
    win.close()

    again = MainWindow(settings=settings, choices=choices, initial=None)
    qtbot.addWidget(again)
    assert again.current_method_id() == "bilateral"
    assert again.param_panel("bilateral").values() == expected
    assert again.recent_files()[0] == str(small_png)
    assert again.last_folder() == str(small_png.parent)
    again.show()
    assert not again.results_dock.isVisible() and again.metrics_dock.isVisible()
    again.reset_layout()
    assert again.results_dock.isVisible()
    again.close()


def test_load_reference_checks_the_size(window, small_png: Path, tmp_path: Path) -> None:
    window.open_image(str(small_png))
    assert window.load_reference(str(small_png))
    assert window.reference is not None
    assert not window.load_reference("sample:camera")
    assert "size" in window.last_error
    window._error_box.close()


def test_time_machine_scrubs_and_keeps_iterates(window, run_method, small_png: Path, qtbot) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("slow", params=window.choices["slow"].method.Params(iterations=30, delay=0.01))
    tm = window.time_machine
    assert tm.isVisibleTo(window) and tm.steps() == list(range(1, 31))
    assert tm.current_step() == 30  # follows the newest
    with qtbot.waitSignal(tm.step_chosen) as blocker:
        window.curve.step_clicked.emit(10)  # a click on the curve at iteration 10
    assert blocker.args == [10]
    assert window.viewer.labels()[1] == "Slow test method @ 10"
    assert np.allclose(window.viewer.images()[1][1], tm.history.get(10), atol=1e-3)
    assert window.curve._cursor and window.curve._cursor[0].value() == 10
    # The metrics follow the iterate on view (issue 17), not the run's final one.
    at_10 = metrics.psnr(np.clip(tm.history.get(10), 0, 1), window.reference)
    final = window.results.all()[-1].psnr
    assert abs(at_10 - final) > 0.05 and window.metrics_view.psnr_label.text() == f"{at_10:.2f} dB"
    before = window.results.count()
    tm.keep_button.click()
    assert window.results.count() == before + 1
    kept = window.results.all()[-1]
    assert kept.iteration == 10 and kept.label.endswith("@ 10")
    assert kept.psnr == pytest.approx(metrics.psnr(kept.image, window.reference))
    # Kept with the time it took and with parameters that end a replay at that iteration.
    assert 0 < kept.elapsed <= window.results.all()[-2].elapsed
    assert kept.params.iterations == 10


def test_deep_image_prior_runs_live_in_the_window(window, run_method, small_png: Path) -> None:
    choice = window.choices.get("dip")
    if choice is None or not choice.available:
        pytest.skip("Deep Image Prior is not available")
    image = load_image(small_png).pixels[:32, :32]
    window.session.noisy, window.session.reference = image, None
    window.add_noise("gaussian", 25.0, seed=0)
    params = window.param_panel("dip").values().replace(iterations=4)
    run_method("dip", params=params, timeout=120_000)
    entry = window.results.all()[-1]
    assert entry.method_id == "dip" and entry.image.shape == image.shape
    series = window.curve.series()
    assert "loss" in series and any(k.startswith("psnr") for k in series)
    assert window.time_machine.steps()  # DIP recorded its iterates


def test_dropping_a_file_opens_it(window, small_png: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_png))])
    # The handler reads only the mime data (QDragEnterEvent's own constructor is deprecated).
    enter = QDropEvent(QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    assert window.source == str(small_png)
    assert window.noisy.shape == (96, 96, 3)


def test_region_first_runs_on_the_selected_rectangle(window, run_method, small_png: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    started: dict[str, object] = {}
    start = window.runs.start
    monkeypatch.setattr(window.runs, "start", lambda *a, **k: (started.update(k), start(*a, **k))[1])
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    assert not window.region_check.isEnabled()
    window.viewer.set_region((10, 20, 40, 30))
    assert window.region_check.isEnabled() and "40×30" in window.region_check.text()
    window.region_check.setChecked(True)
    run_method("gaussian")
    entry = window.results.all()[-1]
    assert entry.image.shape == (30, 40, 3) and entry.region == (10, 20, 40, 30)
    assert started["origin"] == (20, 10)  # the region's top and left reach the method (the Bayer phase)
    assert entry.psnr == pytest.approx(metrics.psnr(entry.image, window.reference[20:50, 10:50]))
    shown = dict(window.viewer.images())
    assert np.array_equal(shown["Noisy input"], window.noisy[20:50, 10:50])  # A cropped to match
    assert window.viewer.effective_mode() == "split"
    # The selection rectangle (whole-image coordinates) is hidden over the crop, still selected.
    assert window.viewer._roi is None and window.viewer.selected_region() == (10, 20, 40, 30)
    out = window.exports.export_result(entry.id, tmp_path / "region.png")
    assert json.loads(sidecar_path(out).read_text())["extra"]["region"] == [10, 20, 40, 30]

    # An iterative region run shows its live images in place and keeps region-sized iterates.
    run_method("slow", params=window.choices["slow"].method.Params(iterations=20, delay=0.0))
    assert window.time_machine.history.full_shape == (30, 40, 3)
    window.time_machine.go_to(5)
    b_label, b_image = window.viewer.images()[1]
    assert b_label.endswith("@ 5") and b_image.shape == (30, 40, 3)  # beside the cropped input
    assert window.viewer.effective_mode() == "split"
    window.compare("input", "reference")  # full-size images on screen: the iterate goes in place
    window.time_machine.go_to(6)
    b_label, b_image = window.viewer.images()[1]
    assert b_label.endswith("@ 6") and b_image.shape == window.noisy.shape
    assert np.array_equal(b_image[:20], window.noisy[:20])  # outside the region: the input


def test_region_first_then_whole_image_in_one_click(window, run_method, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    assert not window.whole_button.isVisible()
    window.viewer.set_region((8, 16, 40, 32))
    window.region_check.setChecked(True)
    dip = window.choices["dip"].method
    run_method("dip", params=dip.Params(preset="fast", iterations=12, stop_rule="es-wmv"), seed=3)
    region_entry = window.results.all()[-1]
    assert region_entry.image.shape == (32, 40, 3)
    assert window.whole_button.isVisible() and "12 iterations" in window.whole_button.text()

    # A kept time-machine iterate offers its own iteration.
    window.iterates.keep_step(7)
    assert "7 iterations" in window.whole_button.text()
    with qtbot.waitSignal(window.run_finished, timeout=30_000):
        assert window.run_whole_image()
    whole = window.results.all()[-1]
    assert whole.image.shape == window.noisy.shape and not whole.region
    assert whole.final_step == 7 and whole.seed == 3
    assert whole.params.iterations == 7 and whole.params.stop_rule == "none" and whole.params.preset == "fast"
    assert not window.whole_button.isVisible()  # the offer is used up; a whole-image result makes none
    assert not window.region_check.isChecked()

    # A new input withdraws an offer.
    run_method("dip", params=dip.Params(preset="fast", iterations=3), region=(0, 0, 32, 32))
    assert window.whole_button.isVisible()
    window.add_noise("gaussian", 15.0, seed=1)
    assert not window.whole_button.isVisible()


def test_stop_keeps_the_output_chosen_next_to_stop(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    window.select_method("slow")
    assert window.keep_combo.isVisibleTo(window) and window.keep_combo.currentText() == "average"
    window.select_method("nlm")
    assert not window.keep_combo.isVisibleTo(window)  # NLM has no choice to offer
    window.select_method("slow")
    slow = window.choices["slow"].method
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        assert window.start_run(params=slow.Params(iterations=100_000, delay=0.002))
        qtbot.waitUntil(lambda: window.curve.has_data(), timeout=5000)
        window.keep_combo.setCurrentText("raw")  # changed while it runs
        window.stop_button.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    entry = window.results.all()[-1]
    assert entry.params.keep == "raw"
    assert np.allclose(entry.image, np.clip(window.noisy * 0.5, 0, 1))
    assert entry.psnr == pytest.approx(metrics.psnr(entry.image, window.reference))


def test_a_run_that_cannot_fit_is_refused_and_a_large_one_asks(window, monkeypatch, small_png: Path) -> None:
    from denoise_studio.core import device as device_module
    from denoise_studio.gui import main_window as main_window_module

    window.open_image(str(small_png))
    dip = window.choices["dip"].method
    params = dip.Params(preset="paper", iterations=50)
    need = dip.estimate_cost(window.noisy.shape, params, "cpu").memory_bytes
    # Too little free memory: a clear refusal, nothing starts, the window stays usable.
    monkeypatch.setattr(device_module, "available_memory", lambda device: need // 2)
    assert window.select_method("dip")
    assert not window.start_run(params=params)
    assert window.worker is None and "needs about" in (window.last_error or "") and "cannot run" in window.last_error
    # Enough to fit but more than half of it: the user is asked, and "No" starts nothing.
    monkeypatch.setattr(device_module, "available_memory", lambda device: int(need * 1.5))
    asked: list[str] = []

    def answer_no(*args: object, **kwargs: object) -> object:
        asked.append(str(args[2]))
        return main_window_module.QMessageBox.StandardButton.No

    monkeypatch.setattr(main_window_module.QMessageBox, "question", answer_no)
    window.confirm_costly_runs = True
    assert not window.start_run(params=params) and window.worker is None
    assert len(asked) == 1 and "half of the free memory" in asked[0]


def test_an_iterate_kept_from_the_time_machine_replays_exactly(window, run_method, small_png: Path, tmp_path: Path, capsys) -> None:
    """Issue 17: `replay` of a kept iterate runs the job to that iteration and stops there."""
    if not window.choices["dip"].available:
        pytest.skip("Deep Image Prior is not available")
    dip = window.choices["dip"].method
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("dip", params=dip.Params(preset="fast", iterations=12, precision="float32"), region=(8, 8, 32, 32), timeout=120_000)
    window.iterates.keep_step(6)
    kept = window.results.all()[-1]
    assert kept.iteration == 6 and kept.params.iterations == 6 and kept.params.stop_rule == "none"
    out = window.exports.export_result(kept.id, tmp_path / "kept.png", bit_depth=16)
    assert out is not None
    from denoise_studio.cli import main

    assert main(["replay", str(out) + ".json", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The iterate was kept in float16 by the time machine: the same to within its storage step.
    assert report["matches"] is True and report["max_abs_difference"] <= 2.0**-11 + 2.0**-16


def test_the_pixel_readout_never_widens_the_window(window, qtbot) -> None:
    """Issue 17: the window grew from 1480 to 1765 px while the mouse moved over the image."""
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    width = window.width()
    window.viewer.readout.setText("x = 12345, y = 12345  " + "R 0.123456 G 0.123456 B 0.123456  " * 20)
    qtbot.wait(50)
    assert window.width() == width and window.viewer.minimumSizeHint().width() < 900


def test_help_lists_the_keyboard_shortcuts_from_the_menus(window) -> None:
    from denoise_studio.gui.menus import shortcuts_html

    text = shortcuts_html(window)
    for key in ("Ctrl+R", "Ctrl+E", "Esc", "F1", "B or Space"):
        assert key in text
    assert "Run → Run" in text and "File → Export selected…" in text


def test_results_and_sidecars_show_what_auto_chose(window, run_method, small_png: Path, tmp_path: Path) -> None:
    """Issue 17: the list said `sigma=auto, h=auto` while the run had estimated σ."""
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("nlm")
    result = window.results.all()[-1]
    assert result.params.sigma is None and "sigma" in result.chosen()
    sigma = result.chosen()["sigma"]
    assert 15.0 < sigma < 35.0  # estimated from σ 25 noise
    assert f"sigma={sigma:.4g} (auto)" in result.summary()
    out = window.exports.export_result(result.id, tmp_path / "nlm.png")
    assert json.loads((tmp_path / "nlm.png.json").read_text())["extra"]["chosen"]["sigma"] == sigma and out is not None


def test_a_new_image_starts_a_new_results_list_and_the_old_one_comes_back_with_its_image(window, run_method, small_png: Path, astronaut, tmp_path: Path) -> None:
    """Issue 17: results of the previous image stayed in the list after File → Open."""
    from denoise_studio.core.image import save_image

    other = tmp_path / "other.png"
    save_image(other, astronaut[200:264, 200:264])
    window.open_image(str(small_png))
    run_method("nlm")
    first = window.results.all()[0]
    window.open_image(str(other))
    assert window.results.count() == 0 and window.results.list.count() == 0
    assert [window.b_combo.itemText(i) for i in range(window.b_combo.count())] == ["(none)", "Input"]  # as the header says
    run_method("gaussian")
    assert [r.method_id for r in window.results.all()] == ["gaussian"]
    window.open_image(str(small_png))
    assert [r.id for r in window.results.all()] == [first.id]
    window.results.show_requested.emit(first.id)  # the old result is shown against its own image
    assert window.viewer.labels()[1] == first.label


def test_apply_to_folder_runs_a_result_on_every_image_in_the_background(window, run_method, qtbot, small_png: Path, astronaut, tmp_path: Path) -> None:
    """Issue 18: the results list's "Apply to folder…" with progress, one Cancel and a summary."""
    from denoise_studio.core.image import save_image
    from denoise_studio.core.sidecar import read_sidecar

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_image(photos / f"p{i}.png", add_noise(astronaut[60 * i : 60 * i + 48, 200:248], "gaussian", 20.0, i), bit_depth=16 if i == 1 else 8)
    (photos / "broken.png").write_bytes(b"not a png")
    window.open_image(str(small_png))
    run_method("median")
    result = window.results.all()[-1]
    out = tmp_path / "out"
    with qtbot.waitSignal(window.run_finished, timeout=30_000):
        assert window.folders.apply_to_folder(result.id, photos, out)
        assert not window.start_run()  # one job at a time
    assert window.worker is None and not window.is_running()
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p1.png", "p2.png"]
    assert load_image(out / "p1.png").bit_depth == 16
    assert read_sidecar(out / "p0.png")["method"] == "median"
    assert "3 written, 0 skipped (already there), 1 failed" in window.run_view.last_summary
    assert "broken.png" in (window.last_error or "")
