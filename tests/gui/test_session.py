"""No lost work: the session is saved as it changes and comes back after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from denoise_studio.core.session_store import MANIFEST, SessionStore
from denoise_studio.gui.main_window import MainWindow


def _window(qtbot, settings: QSettings, choices, session_dir: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    win = MainWindow(settings=settings, choices=choices, initial=None, session_dir=session_dir)
    win.confirm_costly_runs = False
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    return win


def _run(qtbot, win: MainWindow, method_id: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
    assert win.select_method(method_id)
    with qtbot.waitSignal(win.run_finished, timeout=20_000):
        assert win.start_run(**kwargs)


def test_restore_after_a_simulated_crash(qtbot, settings, choices, small_png: Path, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    first = _window(qtbot, settings, choices, folder)
    assert first.session_keeper.saved() is None  # nothing saved yet
    first.open_image(str(small_png))
    first.add_noise("gaussian", 25.0, seed=4)
    _run(qtbot, first, "nlm")
    _run(qtbot, first, "slow", params=choices["slow"].method.Params(iterations=12, delay=0.0))
    first.iterates.keep_step(5)  # a time-machine iterate kept as a result
    first.results.remove(first.results.all()[1].id)  # the slow run's own result is thrown away
    before = first.results.all()
    assert [e.method_id for e in before] == ["nlm", "slow"] and before[1].iteration == 5
    first.session_store.flush()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["clean_exit"] is False and len(manifest["results"]) == 2
    assert len(list(folder.glob("*.npy"))) == 4  # input, reference, two results: the removed one is gone

    # The crash: the first window never closes. A new one finds the session and restores it.
    second = _window(qtbot, settings, choices, folder)
    assert second.session_keeper.saved() is not None
    assert second.session_keeper.restore()
    np.testing.assert_array_equal(second.noisy, first.noisy)
    np.testing.assert_array_equal(second.reference, first.reference)
    assert second.session.noise == {"model": "gaussian", "sigma": 25.0, "seed": 4}
    after = second.results.all()
    assert [e.method_title for e in after] == [e.method_title for e in before]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(new.image, old.image)
        assert new.params == old.params and new.seed == old.seed
        assert new.psnr == pytest.approx(old.psnr) and new.ssim == pytest.approx(old.ssim)
        np.testing.assert_allclose(new.heatmap, old.heatmap, atol=1e-6)
    # A restored result exports like any other, and the restored session keeps being saved.
    out = second.exports.export_result(after[0].id, tmp_path / "restored nlm.png")
    assert out is not None and out.is_file()
    _run(qtbot, second, "gaussian")
    second.close()
    third = SessionStore(folder).read_manifest()
    assert third is not None and third["clean_exit"] is True and len(third["results"]) == 3
    first.close()


def test_a_damaged_session_is_no_session(qtbot, settings, choices, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / MANIFEST).write_text("{ not json")
    win = _window(qtbot, settings, choices, folder)
    assert win.session_keeper.saved() is None and not win.session_keeper.restore()
    # A manifest naming a missing image: a clear message, the window goes on.
    (folder / MANIFEST).write_text(json.dumps({"version": 1, "input": {"source": "x.png", "noisy": "gone.npy"}, "results": []}))
    assert not win.session_keeper.restore()
    assert "cannot be restored" in (win.last_error or "")
    assert win.open_image("sample:chelsea")
    win.close()


def test_declining_keeps_the_old_session_aside(qtbot, settings, choices, small_png: Path, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    first = _window(qtbot, settings, choices, folder)
    first.open_image(str(small_png))
    _run(qtbot, first, "nlm")
    first.close()
    second = _window(qtbot, settings, choices, folder)
    previous = second.session_store.set_aside()
    assert previous == tmp_path / "session.previous" and (previous / MANIFEST).is_file()
    assert second.session_keeper.saved() is None
    second.close()


def test_a_session_that_cannot_be_written_does_not_stop_the_work(qtbot, settings, choices, small_png: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    win = _window(qtbot, settings, choices, blocker / "session")
    assert win.open_image(str(small_png))
    _run(qtbot, win, "nlm")
    win.session_store.flush()
    assert "cannot save the session" in (win.session_store.last_error or "")
    assert win.results.count() == 1
    win.close()


def test_re_noising_stores_the_reference_once(qtbot, settings, choices, small_png: Path, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    win = _window(qtbot, settings, choices, folder)
    win.open_image(str(small_png))
    win.add_noise("gaussian", 25.0, seed=1)
    win.session_store.flush()
    first = json.loads((folder / MANIFEST).read_text())["input"]
    win.add_noise("gaussian", 10.0, seed=2)
    win.session_store.flush()
    second = json.loads((folder / MANIFEST).read_text())["input"]
    assert second["reference"] == first["reference"] and second["noisy"] != first["noisy"]
    assert sorted(p.name for p in folder.glob("*.npy")) == sorted([second["reference"], second["noisy"]])
    np.testing.assert_array_equal(SessionStore(folder).load_image(second["reference"]), win.reference)
    win.close()
