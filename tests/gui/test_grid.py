"""The comparison grid: its queue of runs, the panes, the method picker and `gui --grid`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt

from denoise_studio.gui.compare import INPUT, result_key
from denoise_studio.gui.grid_picker import GridCandidate, GridPicker, fitting_ids
from denoise_studio.gui.grid_view import BEST_MARK

CHEAP = ["gaussian", "median", "nlm"]


def _open(window, small_png: Path, sigma: float | None = 25.0) -> None:  # type: ignore[no-untyped-def]
    assert window.open_image(str(small_png), wait=True)
    if sigma is not None:
        window.add_noise("gaussian", sigma, 0)


def _run_grid(qtbot, window, method_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.grid_runs.finished, timeout=60_000):
        assert window.grid_runs.start(method_ids)
    assert window.worker is None and not window.grid_runs.is_running()


def test_the_queue_runs_in_order_and_adds_one_result_each(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    started: list[str] = []
    window.result_added.connect(lambda result_id: started.append(window.results.get(result_id).method_id))
    _run_grid(qtbot, window, CHEAP)
    assert started == CHEAP
    assert [r.method_id for r in window.results.all()] == CHEAP
    assert window.grid_runs.view.result_ids() == [r.id for r in window.results.all()]
    assert window.grid_runs.grid_shown()
    assert "3 results" in window.grid_runs.last_summary and not window.grid_runs.failed
    assert all(r.estimate is not None for r in window.results.all())  # each run's estimate came before the next


def test_cancel_ends_the_whole_queue(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    window.select_method("slow")  # its panel: slow enough to be cancelled mid-way
    window.param_panel("slow").set_values(window.param_panel("slow").values().replace(iterations=5000))
    with qtbot.waitSignal(window.grid_runs.finished, timeout=20_000):
        assert window.grid_runs.start(["slow", "gaussian", "median"])
        qtbot.waitUntil(lambda: window.worker is not None and window.worker.is_running())
        assert window.cancel_button.isEnabled()
        window.cancel_button.click()  # the status bar's one Cancel
    assert window.results.count() == 0
    assert window.worker is None and not window.grid_runs.is_running()
    assert "cancelled" in window.grid_runs.last_summary


def test_the_grid_has_a_pane_per_result_linked_labelled_and_the_best_marked(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    _run_grid(qtbot, window, CHEAP)
    view = window.grid_runs.view
    results = window.results.all()
    assert len(view.views()) == len(results) == 3
    titles = view.titles()
    for title, result in zip(titles, results):
        assert result.label in title and f"{result.elapsed:.1f} s" in title and f"PSNR {result.psnr:.2f} dB" in title
    best = max(results, key=lambda r: r.psnr)
    assert view.best_id() == best.id
    assert [t.startswith(BEST_MARK) for t in titles] == [r.id == best.id for r in results]
    first = view.views()[0]
    first.scaleBy((0.5, 0.5))
    first.translateBy((5, 3))
    ranges = view.view_ranges()
    for other in ranges[1:]:
        assert np.allclose(other, ranges[0], atol=1e-6)


def test_without_a_reference_the_estimate_ranks_the_panes(qtbot, window, small_png: Path, tmp_path: Path) -> None:
    from denoise_studio.core.image import load_image, save_image
    from denoise_studio.core.noise import add_noise

    photo = tmp_path / "noisy photo.png"  # mid-tones, so that little clips and SURE holds
    save_image(photo, add_noise(load_image(small_png).pixels * 0.6 + 0.2, "gaussian", 20.0, 4))
    _open(window, photo, sigma=None)
    _run_grid(qtbot, window, ["gaussian", "nlm", "wavelet"])
    gaussian, nlm, wavelet = window.results.all()
    assert all(r.psnr is None and r.estimate is not None for r in (gaussian, nlm, wavelet))
    assert not nlm.estimate.valid  # it rounds to 8 bits: no estimate, and no rank
    titles = window.grid_runs.view.titles()
    assert f"est. {gaussian.estimate.psnr:.2f} dB" in titles[0] and "est. —" in titles[1]
    assert window.grid_runs.view.best_id() == max((gaussian, wavelet), key=lambda r: r.estimate.psnr).id


def test_a_click_on_a_pane_makes_its_result_b(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    _run_grid(qtbot, window, ["gaussian", "median"])
    grid = window.grid_runs
    first = window.results.all()[0]
    assert window.compare_state.b_key != result_key(first.id)  # the last result was shown as B
    qtbot.wait(50)  # laid out
    centre = grid.view.graphics.mapFromScene(grid.view.views()[0].sceneBoundingRect().center())
    qtbot.mouseClick(grid.view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))
    assert (window.compare_state.a_key, window.compare_state.b_key) == (INPUT, result_key(first.id))
    assert not grid.grid_shown()  # the A/B viewer is in front
    assert window.results.selected_ids() == [first.id]


def test_a_removed_result_leaves_the_grid_and_a_new_image_clears_it(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    _run_grid(qtbot, window, ["gaussian", "median"])
    first = window.results.all()[0]
    window.results.remove(first.id)
    assert window.grid_runs.view.result_ids() == [window.results.all()[0].id]
    window.open_image("sample:camera", wait=True)
    assert window.grid_runs.view.result_ids() == [] and not window.grid_runs.grid_shown()


def test_a_method_that_cannot_run_is_skipped_and_named(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    _run_grid(qtbot, window, ["broken", "gaussian"])
    assert [r.method_id for r in window.results.all()] == ["gaussian"]
    assert window.grid_runs.failed == ["broken"]
    assert "broken" in window.grid_runs.last_summary


def test_a_method_without_its_weights_is_greyed_and_skipped(qtbot, window, small_png: Path) -> None:
    from denoise_studio.gui.method_selector import MethodChoice
    from denoise_studio.methods import MethodEntry

    _open(window, small_png)
    window.choices["net"] = MethodChoice(MethodEntry("net", "A network", "Supervised", "test:Net"), None, "no weights installed")
    candidate = {c.method_id: c for c in window.grid_runs.candidates()}["net"]
    assert not candidate.runnable and "no weights" in candidate.describe()
    assert "net" not in window.grid_runs.fitting_ids(10_000)
    _run_grid(qtbot, window, ["net", "gaussian"])
    assert [r.method_id for r in window.results.all()] == ["gaussian"] and window.grid_runs.failed == ["net"]
    assert "no weights installed" in (window.last_error or "")


def test_all_that_fit_adds_up_the_cheapest_and_leaves_out_unknown_times() -> None:
    candidates = [GridCandidate("a", "A", object(), 10.0), GridCandidate("b", "B", object(), 3.0),  # type: ignore[arg-type]
                  GridCandidate("c", "C", object(), None), GridCandidate("d", "D", object(), 5.0),  # type: ignore[arg-type]
                  GridCandidate("e", "E", reason="weights missing")]
    assert fitting_ids(candidates, 9.0) == ["b", "d"]
    assert fitting_ids(candidates, 18.0) == ["a", "b", "d"]
    assert fitting_ids(candidates, 1.0) == []


def test_the_picker_lists_costs_greys_what_cannot_run_and_starts_the_queue(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    candidates = {c.method_id: c for c in window.grid_runs.candidates()}
    assert candidates["gaussian"].runnable and candidates["gaussian"].seconds is not None
    assert candidates["dip"].iterative and candidates["dip"].describe().startswith("up to")
    assert "dip" not in window.grid_runs.fitting_ids(candidates["dip"].seconds - 1)  # an iteration cap over the budget
    window.settings.setValue("grid/methods", ["gaussian", "median"])
    window.grid_runs.ask_and_start()
    picker = window.grid_runs._picker
    assert isinstance(picker, GridPicker) and picker.isVisible()
    assert picker.chosen_ids() == ["gaussian", "median"]  # the last choice
    with qtbot.waitSignal(window.grid_runs.finished, timeout=60_000):
        picker.accept()
    assert [r.method_id for r in window.results.all()] == ["gaussian", "median"]


def test_the_picker_greys_a_method_that_cannot_run(qtbot) -> None:  # type: ignore[no-untyped-def]
    candidates = [GridCandidate("gaussian", "Gaussian", object(), 1.0),  # type: ignore[arg-type]
                  GridCandidate("net", "A network", reason="no weights installed")]
    picker = GridPicker(None, candidates, "the whole image", ticked=["gaussian", "net"])
    qtbot.addWidget(picker)
    assert picker.chosen_ids() == ["gaussian"]
    net = picker.list.item(1)
    assert not net.flags() & Qt.ItemFlag.ItemIsEnabled and "no weights" in net.text()


def test_gui_grid_screenshot(qapp, small_png: Path, tmp_path: Path) -> None:
    import argparse

    from denoise_studio.commands.gui import add_arguments, run
    from denoise_studio.core.image import load_image

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "grid.png"
    args = parser.parse_args([str(small_png), "--noise-sigma", "25", "--grid", "gaussian,median",
                              "--window-size", "1100x760", "--screenshot", str(out)])
    assert run(args) == 0
    shot = load_image(out)
    assert (shot.width, shot.height) == (1100, 760)


def test_stop_keeps_the_iterative_method_and_the_queue_goes_on(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    window.select_method("slow")
    window.param_panel("slow").set_values(window.param_panel("slow").values().replace(iterations=5000))
    with qtbot.waitSignal(window.grid_runs.finished, timeout=30_000):
        assert window.grid_runs.start(["slow", "gaussian"])
        qtbot.waitUntil(lambda: window.worker is not None and window.worker.is_running())
        window.stop_button.click()  # the status bar's Stop: this method ends early, the queue goes on
    slow, gaussian = window.results.all()
    assert (slow.method_id, slow.stopped_early, gaussian.method_id) == ("slow", True, "gaussian")
    assert window.grid_runs.view.result_ids() == [slow.id, gaussian.id]


def test_the_grid_runs_on_the_selected_region(qtbot, window, small_png: Path) -> None:
    _open(window, small_png)
    window.viewer.set_region((10, 12, 48, 40))
    window.region_check.setChecked(True)
    assert window.grid_runs.region() == (10, 12, 48, 40)
    _run_grid(qtbot, window, ["gaussian", "median"])
    results = window.results.all()
    assert all(r.region == (10, 12, 48, 40) and r.image.shape[:2] == (40, 48) for r in results)
    assert len(window.grid_runs.view.views()) == 2


def test_gui_grid_refuses_an_unknown_id_and_a_method_beside_it(qapp, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from denoise_studio.cli import main

    shot = tmp_path / "x.png"
    assert main(["gui", "sample:camera", "--grid", "gaussian,no_such_method", "--screenshot", str(shot)]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["gui", "sample:camera", "--grid", "gaussian", "--method", "nlm", "--screenshot", str(shot)]) == 2
    assert "--grid and --method" in capsys.readouterr().err
    assert not shot.exists()


def test_a_new_pane_does_not_paint_the_others_again(qtbot) -> None:  # type: ignore[no-untyped-def]
    from denoise_studio.core.result import Result
    from denoise_studio.gui.grid_view import GridView

    grid = GridView()
    qtbot.addWidget(grid)
    painted: list[int] = []
    grid.painter = lambda image: (painted.append(1), (image * 255).astype(np.uint8))[1]
    for index in range(3):
        result = Result("gaussian", f"Gaussian {index}", None, np.full((16, 16, 3), 0.1 * index, np.float32))
        result.id = index + 1
        grid.add_result(result)
    assert len(painted) == 3  # one painting per result, not one per result and relayout (1 + 2 + 3)
