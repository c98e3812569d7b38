"""Fixtures for the window tests: isolated settings, a window, test methods, no leaked threads."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.method import Method, RunContext, Snapshot
from denoise_studio.core.params import Params, param
from denoise_studio.gui import worker as worker_module
from denoise_studio.gui.method_selector import MethodChoice, load_choices
from denoise_studio.gui.theme import configure_pyqtgraph
from denoise_studio.methods import MethodEntry

configure_pyqtgraph()


@pytest.fixture(scope="session", autouse=True)
def true_refcount_guard(qapp) -> None:  # type: ignore[no-untyped-def]
    """PySide6 6.12.0 drops references to None and True: guard the test process too."""
    from denoise_studio.gui.qt_compat import install_refcount_guard

    install_refcount_guard()


@pytest.fixture(scope="package", autouse=True)
def garbage_collected_in_the_event_loop(qapp) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """As the application does (``gui/event_loop_gc.py``): no collection inside a Qt call."""
    from denoise_studio.gui import event_loop_gc

    event_loop_gc.install(qapp)
    yield
    event_loop_gc.uninstall()


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """Fail any test that leaves a worker's QThread running (the napari rule)."""
    yield
    alive = worker_module.running_threads()
    for thread in alive:
        thread.wait(5000)  # do not poison the next test
    if alive:
        pytest.fail(f"{len(alive)} QThread(s) left running: {[t.objectName() for t in alive]}")


# ------------------------------------------------------------------------------ test methods


@dataclass(frozen=True)
class SlowParams(Params):
    iterations: int = param(400, minimum=1, maximum=100_000)
    delay: float = param(0.005, minimum=0.0, maximum=1.0, description="seconds per step")
    keep: str = param("average", choices=("average", "raw"), description="what a stop keeps")


class SlowMethod(Method[SlowParams]):
    """An iterative stand-in: blends toward a blurred image, one step every ``delay`` seconds."""

    id, title, family, Params = "slow", "Slow test method", "Deep Image Prior", SlowParams
    iterative = True
    started = threading.Event()

    def run(self, noisy: np.ndarray, params: SlowParams, ctx: RunContext) -> Iterator[Snapshot]:
        SlowMethod.started.set()
        image = noisy.copy()
        step = 0
        for step in range(1, params.iterations + 1):
            if ctx.stop_requested:
                break
            ctx.wait_if_paused()
            time.sleep(params.delay)
            image = 0.9 * image + 0.1 * noisy.mean(axis=(0, 1), keepdims=True)
            if ctx.history is not None:
                ctx.history.record(step, image)
            events = ("guard",) if step == 3 else ()
            yield Snapshot(step, params.iterations, image=image.copy(), loss=1.0 / step,
                           scalars={"variance": 1.0 / (step + 1)}, events=events)
        raw = np.clip(noisy * 0.5, 0, 1).astype(np.float32)  # a distinguishable alternative
        maps = {"average": image.copy(), "raw": raw}
        yield Snapshot(step, params.iterations, image=maps[params.keep].copy(), final=True, maps=maps)

    def repeat_until(self, params: SlowParams, iteration: int) -> SlowParams:
        return params.replace(iterations=iteration)


@dataclass(frozen=True)
class BrokenParams(Params):
    pass


class BrokenMethod(Method[BrokenParams]):
    id, title, family, Params = "broken", "Broken test method", "Classical", BrokenParams

    def run(self, noisy: np.ndarray, params: BrokenParams, ctx: RunContext) -> Iterator[Snapshot]:
        raise RuntimeError("deliberate failure inside the method")
        yield  # pragma: no cover


def _choice(method: Method) -> MethodChoice:  # type: ignore[type-arg]
    entry = MethodEntry(method.id, method.title, method.family, f"test:{type(method).__name__}")
    return MethodChoice(entry, method, None)


@pytest.fixture(scope="session")
def real_choices() -> dict[str, MethodChoice]:
    """Every registry method, loaded once for the session."""
    return load_choices()


@pytest.fixture
def choices(real_choices: dict[str, MethodChoice]) -> dict[str, MethodChoice]:
    """The real registry plus two test methods (a slow iterative one and a failing one)."""
    out = dict(real_choices)
    out["slow"] = _choice(SlowMethod())
    out["broken"] = _choice(BrokenMethod())
    return out


# ------------------------------------------------------------------------------ window


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def small_png(tmp_path: Path) -> Path:
    """A 96×96 RGB crop of the astronaut written to a file (fast runs)."""
    pixels = load_image("sample:astronaut").pixels[60:156, 200:296]
    path = tmp_path / "small input.png"
    save_image(path, pixels)
    return path


@pytest.fixture
def window(qtbot, settings: QSettings, choices: dict[str, MethodChoice]):  # type: ignore[no-untyped-def]
    from denoise_studio.gui.main_window import MainWindow

    win = MainWindow(settings=settings, choices=choices)
    win.confirm_costly_runs = False  # a modal question would block the test (tested on its own)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.cancel_run(wait=True)
    win.close()
    gc.collect()  # the window's cycles go now, outside any Qt call, not in a later test


@pytest.fixture
def run_method(qtbot, window):  # type: ignore[no-untyped-def]
    """Start a method through the window and wait until its run has fully finished."""

    def run(method_id: str, timeout: int = 20_000, **kwargs):  # type: ignore[no-untyped-def]
        assert window.select_method(method_id)
        with qtbot.waitSignal(window.run_finished, timeout=timeout):
            assert window.start_run(**kwargs)
        assert window.worker is None

    return run
