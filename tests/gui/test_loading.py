"""What loads behind the window: the methods after it shows, large images as they open (gui/loading.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings, QTimer

from denoise_studio.gui import loading
from denoise_studio.gui.loading import LoadedMethods
from denoise_studio.gui.main_window import MainWindow
from denoise_studio.gui.method_selector import MethodChoice


def _ticking(qtbot, ticks: list[float]) -> QTimer:  # type: ignore[no-untyped-def]
    """A 10 ms timer on the UI thread: it fires only while the window answers."""
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    return timer


def test_the_window_shows_before_the_methods_load_and_run_waits_for_them(
        qtbot, monkeypatch, settings: QSettings, choices: dict[str, MethodChoice], small_png: Path) -> None:
    release = threading.Event()
    loaded_in: list[threading.Thread] = []

    def slow_load() -> LoadedMethods:
        loaded_in.append(threading.current_thread())
        release.wait(10)
        return LoadedMethods(dict(choices), ["cpu"])

    monkeypatch.setattr(loading, "load_methods", slow_load)
    window = MainWindow(settings=settings, initial=str(small_png))  # no choices: they load behind the window
    qtbot.addWidget(window)
    try:
        window.show()
        assert window.method_loading.is_loading()
        assert window.noisy is not None  # the image is there at once
        assert not window.run_button.isEnabled() and "loading" in window.run_button.toolTip()
        assert not window.device_picker.threads_spin.isEnabled()  # torch is being imported: not touched meanwhile
        assert not window.run_action.isEnabled()
        assert window.method_dock.method_title.text() == "Loading methods…"
        assert not window.selector.is_enabled("nlm") and "loading" in window.selector.tooltip("nlm")
        assert not window.start_run("gaussian")  # refused, with a status message, until loaded
        window.seed_spin.setValue(7)  # what the user sets while the methods load stays
        assert "still loading" in window.statusBar().currentMessage()

        ticks: list[float] = []
        timer = _ticking(qtbot, ticks)
        qtbot.waitUntil(lambda: len(ticks) >= 5 and bool(loaded_in), timeout=5000)
        assert window.method_loading.is_loading()  # the window answered while the methods were loading
        assert window.statusBar().currentMessage() == "Loading torch and the methods…"
        assert loaded_in[0] is not threading.main_thread()
        timer.stop()
        with qtbot.waitSignal(window.method_loading.loaded, timeout=5000):
            release.set()
    finally:
        release.set()
    assert not window.method_loading.is_loading()
    assert window.run_button.isEnabled() and "loading" not in window.run_button.toolTip()
    assert window.device_picker.threads_spin.isEnabled()
    assert window.selector.is_enabled("nlm") and window.current_method_id() == "nlm"
    assert window.device_picker.device() == "cpu"
    assert window.seed_spin.value() == 7
    with qtbot.waitSignal(window.run_finished, timeout=20_000):
        assert window.start_run("gaussian")
    assert window.results.count() == 1


def test_a_screenshot_waits_for_the_methods(qapp, monkeypatch, choices: dict[str, MethodChoice], small_png: Path,
                                            tmp_path: Path) -> None:
    import argparse

    from denoise_studio.commands.gui import add_arguments, run

    def slow_load() -> LoadedMethods:
        time.sleep(0.5)
        return LoadedMethods(dict(choices), ["cpu"])

    monkeypatch.setattr(loading, "load_methods", slow_load)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "shot.png"
    args = parser.parse_args([str(small_png), "--screenshot", str(out), "--method", "gaussian", "--no-run",
                              "--window-size", "900x600"])
    assert run(args) == 0  # --method needs the loaded methods: it fails if the screenshot did not wait
    assert out.is_file()


def _gradient_png(path: Path, width: int, height: int) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def test_a_large_image_loads_in_the_background(qtbot, window, tmp_path: Path) -> None:
    big = _gradient_png(tmp_path / "big.png", 3000, 2000)  # 6 megapixels: over LARGE_IMAGE_PIXELS
    old = window.source
    arrived: list[str] = []
    window.image_loaded.connect(arrived.append)
    started = time.perf_counter()
    assert window.open_image(str(big))
    returned_after = time.perf_counter() - started
    assert window.source == old and window.image_loading.is_loading()  # the old image stays meanwhile
    assert window.statusBar().currentMessage() == "Loading big.png…"
    ticks: list[float] = []
    timer = _ticking(qtbot, ticks)
    qtbot.waitUntil(lambda: bool(arrived), timeout=30_000)
    timer.stop()
    assert returned_after < 1.0
    assert len(ticks) >= 3  # the window answered while the image was decoded
    assert arrived == [str(big)] and window.source == str(big)
    assert window.noisy is not None and window.noisy.shape == (2000, 3000, 3)
    assert window.viewer.images()[0][1] is window.noisy
    assert not window.image_loading.is_loading()


def test_wait_opens_a_large_image_at_once(window, monkeypatch, small_png: Path) -> None:
    monkeypatch.setattr(loading, "LARGE_IMAGE_PIXELS", 100)  # the 96×96 crop counts as large now
    assert loading.loads_in_background(str(small_png))
    assert window.open_image(str(small_png), wait=True)
    assert window.source == str(small_png) and not window.image_loading.is_loading()


def test_a_corrupt_large_file_shows_an_error_and_keeps_the_old_image(qtbot, window, monkeypatch, small_png: Path,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setattr(loading, "LARGE_IMAGE_PIXELS", 100)
    broken = tmp_path / "broken.png"
    data = small_png.read_bytes()
    broken.write_bytes(data[: len(data) // 3])  # the header (and so the size) is intact, the pixels are not
    old, noisy = window.source, window.noisy
    assert window.open_image(str(broken))  # on its way
    qtbot.waitUntil(lambda: not window.image_loading.is_loading(), timeout=10_000)
    assert window.last_error is not None and "broken.png" in window.last_error
    assert window._error_box is not None and window._error_box.isVisible()
    window._error_box.close()
    assert window.source == old and window.noisy is noisy
    assert window.open_image(str(small_png), wait=True)  # still working


def test_only_the_newest_of_two_large_images_is_shown(qtbot, window, monkeypatch, small_png: Path,
                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(loading, "LARGE_IMAGE_PIXELS", 100)
    second = _gradient_png(tmp_path / "second.png", 120, 80)
    arrived: list[str] = []
    window.image_loaded.connect(arrived.append)
    assert window.open_image(str(small_png)) and window.open_image(str(second))
    qtbot.waitUntil(lambda: not window.image_loading.is_loading(), timeout=10_000)
    window.image_loading.join()
    qtbot.wait(50)
    assert arrived == [str(second)] and window.source == str(second)


def test_an_image_opened_at_once_supersedes_a_large_one_still_loading(qtbot, window, monkeypatch, small_png: Path,
                                                                       tmp_path: Path) -> None:
    big = _gradient_png(tmp_path / "big.png", 120, 80)
    monkeypatch.setattr(loading, "LARGE_IMAGE_PIXELS", 9400)  # 120×80 loads in the background, the 96×96 PNG at once
    assert window.open_image(str(big)) and window.open_image(str(small_png))
    assert not window.image_loading.is_loading()
    window.image_loading.join()
    qtbot.wait(50)
    assert window.source == str(small_png)  # the big image, decoded later, did not replace it
