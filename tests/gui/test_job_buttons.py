"""Issue 17: one Stop (keep) and one Cancel (discard), named and placed the same for every job,
enabled only where they apply, with the Run menu's actions following them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from denoise_studio.core.image import save_image
from denoise_studio.gui.job_buttons import CANCEL_TEXT, STOP_TEXT, TRAINING
from denoise_studio.gui.train_dock import CURRENT_IMAGE


def _offered(window) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
    """(Stop usable, Cancel usable), checked to agree with the Run menu's actions."""
    stop, cancel = window.stop_button, window.cancel_button
    assert window.stop_action.isEnabled() == stop.isEnabled()
    assert window.cancel_action.isEnabled() == cancel.isEnabled()
    return stop.isEnabled() and stop.isVisible(), cancel.isEnabled() and cancel.isVisible()


def test_one_pair_in_the_status_bar_and_the_menu_says_the_same(window) -> None:
    assert window.stop_button.text() == STOP_TEXT and window.cancel_button.text() == CANCEL_TEXT
    assert "Stop — keep" in window.stop_action.text().replace("&", "")
    assert "Cancel — discard" in window.cancel_action.text().replace("&", "")
    assert window.stop_action.shortcut().toString() == "Ctrl+." and window.cancel_action.shortcut().toString() == "Esc"
    assert window.statusBar().isAncestorOf(window.stop_button) and window.statusBar().isAncestorOf(window.cancel_button)
    # No other Stop or Cancel anywhere in the window.
    assert not hasattr(window.method_dock, "stop_button")
    assert not hasattr(window.train_dock, "stop_button") and not hasattr(window.train_dock, "cancel_button")
    assert not hasattr(window.curve, "stop_button")
    assert _offered(window) == (False, False) and not window.stop_button.isVisible()  # nothing runs


def test_an_iterative_run_offers_both_and_the_menu_stop_keeps(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.select_method("slow")
    slow = window.choices["slow"].method
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        assert window.start_run(params=slow.Params(iterations=100_000, delay=0.002))
        assert _offered(window) == (True, True)
        assert "keep" in window.stop_button.toolTip() and "discard" in window.cancel_button.toolTip()
        qtbot.waitUntil(lambda: window.curve.has_data(), timeout=5000)
        window.stop_action.trigger()
    qtbot.waitUntil(lambda: window.worker is None, timeout=5000)
    assert window.results.all()[-1].stopped_early
    assert _offered(window) == (False, False)


def test_a_one_shot_run_can_only_be_cancelled(window, qtbot) -> None:
    with qtbot.waitSignal(window.run_finished, timeout=20_000):
        assert window.start_run("nlm")
        assert _offered(window) == (False, True)
        assert "one step" in window.stop_button.toolTip()
    assert window.results.count() == 1


def test_a_folder_run_can_only_be_stopped(window, qtbot, run_method, small_png: Path, tmp_path: Path) -> None:
    window.open_image(str(small_png))
    run_method("gaussian")
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(3):
        save_image(folder / f"{i}.png", np.full((24, 24, 3), 0.1 * i, np.float32))
    with qtbot.waitSignal(window.run_finished, timeout=30_000):
        assert window.folders.apply_to_folder(window.results.all()[0].id, folder, tmp_path / "out")
        assert _offered(window) == (True, False)
        assert "files written so far stay" in window.stop_button.toolTip()
    assert _offered(window) == (False, False)


def test_training_uses_the_same_pair(window, qtbot, rng: np.random.Generator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(tmp_path / "user data"))
    window.session.noisy = np.clip(0.5 + 0.1 * rng.standard_normal((48, 48, 3)), 0, 1).astype(np.float32)
    dock = window.train_dock
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, title, _text: asked.append(title) or QMessageBox.StandardButton.Yes)
    dock.training_progress.connect(lambda _update: qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton))
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        assert dock.start_training("ap_bsn", data=CURRENT_IMAGE, steps=500, minutes=5, recipe_overrides={"patch_size": 24, "batch_size": 2})
        assert window.run_view.job is TRAINING
        assert _offered(window) == (True, True)
        assert "weights" in window.stop_button.toolTip()
    assert "cancelled" in dock.status.text() and asked[:1] == ["Cancel training"]  # asked before a training run is thrown away
    assert _offered(window) == (False, False)


def test_while_the_estimate_runs_the_buttons_say_they_skip_it(window, qtbot, small_png: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    window.select_method("tv")
    seen: list[str] = []
    window.runs.estimated.connect(lambda _estimate: seen.append(window.cancel_button.toolTip()))  # the result is listed by then
    with qtbot.waitSignal(window.run_finished, timeout=20_000):
        assert window.start_run()
    assert seen and "Skip the estimate" in seen[0] and "already in the list" in seen[0]
