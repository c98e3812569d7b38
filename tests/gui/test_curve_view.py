"""The curve view made for choosing an iteration: room, legend, styles, crosshair, zoom, markers, figure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from denoise_studio.core import curves
from denoise_studio.core.image import load_image
from denoise_studio.core.method import Method, RunContext, Snapshot
from denoise_studio.core.params import Params
from denoise_studio.core.result import CurvePoint
from denoise_studio.gui import curve_style
from denoise_studio.gui.curve_dock import CurvePanel
from denoise_studio.gui.curve_figure import render_figure
from denoise_studio.gui.worker import MethodWorker


def _dip_like_points(n: int = 200) -> list[CurvePoint]:
    """A DIP-shaped run: PSNR against the reference rises then falls, loss decays, ES-EMV fires at 120."""
    points = []
    for step in range(1, n + 1):
        psnr_ref = 30 - ((step - 100) / 40) ** 2
        points.append(CurvePoint(step=step, loss=0.05 * np.exp(-step / 50) + 0.01, scalars={
            curves.PSNR_REF: psnr_ref, curves.PSNR_REF_AVG: psnr_ref - 0.2,
            curves.PSNR_NOISY: 18 + step / 100, curves.PSNR_NOISY_AVG: 18 + step / 110,
            curves.VARIANCE_EMV: 0.01 / step,
        }, events=(curves.ES_EMV,) if step == 120 else ()))
    if n >= 120:  # the worker adds the iteration the rule suggests when the rule fires
        points.append(CurvePoint(step=95, events=(curves.suggestion_event(curves.ES_EMV),)))
    return points


@pytest.fixture
def panel(qtbot):  # type: ignore[no-untyped-def]
    widget = CurvePanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 300)
    widget.show()
    widget.reset("Deep Image Prior")
    widget.add_points(_dip_like_points())
    qtbot.wait(20)
    return widget


def test_every_series_of_a_dip_run_has_its_own_colour_and_style() -> None:
    looks = [(style.colour, style.style) for style in curve_style.KNOWN.values()]
    dip_keys = (curves.LOSS, curves.PSNR_NOISY, curves.PSNR_NOISY_AVG, curves.PSNR_REF, curves.PSNR_REF_AVG,
                curves.VARIANCE_WMV, curves.VARIANCE_EMV)
    dip_looks = [(curve_style.KNOWN[k].colour, curve_style.KNOWN[k].style) for k in dip_keys]
    assert len(set(dip_looks)) == len(dip_keys)
    # The two curves that looked alike ("psnr noisy" and its average) differ in colour and in dashes.
    noisy, average = curve_style.KNOWN[curves.PSNR_NOISY], curve_style.KNOWN[curves.PSNR_NOISY_AVG]
    assert noisy.colour != average.colour and noisy.style != average.style
    assert len(looks) >= len(dip_keys)


def test_the_legend_is_outside_the_plots_and_names_every_series(panel) -> None:
    assert panel.quality.legend is None and panel.loss_plot.legend is None
    text = panel.legend.text().replace("&nbsp;", " ").replace("\u2011", "-")
    for name in ("PSNR vs reference", "PSNR vs noisy, averaged", "loss", "ES-EMV variance (right)"):
        assert name in text
    assert panel.legend.isVisible() and not panel.is_folded()


def test_axes_show_plain_numbers_not_a_scaled_unit(panel) -> None:
    for plot in (panel.quality, panel.loss_plot):
        for side in ("left", "bottom"):
            assert not plot.getAxis(side).autoSIPrefix
    assert panel.loss_plot.getAxis("left").labelString().count("x0") == 0


def test_the_crosshair_reads_the_iteration_and_every_value(panel, qtbot) -> None:
    scene_pos = panel.quality.vb.mapViewToScene(QPointF(100, 25))
    qtbot.mouseMove(panel.graphics, panel.graphics.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: panel.readout.text().startswith("iteration"), timeout=2000)
    text = panel.readout.text()
    assert text.startswith("iteration 100")
    assert "PSNR vs reference 30.00 dB" in text and "loss" in text
    assert all(line.isVisible() and abs(line.value() - 100) <= 1 for line in panel._hover)
    assert panel.values_at(100000) == "iteration 100000"  # nothing recorded near it


def test_wheel_and_drag_zoom_the_iteration_axis_only(panel, qtbot) -> None:
    for view in (panel.quality.vb, panel.loss_plot.vb, panel.right):
        assert view.state["mouseEnabled"] == [True, False]
    panel.quality.vb.setXRange(80, 120, padding=0)
    qtbot.wait(20)
    (x0, x1), _ = panel.quality.vb.viewRange()
    assert x0 == pytest.approx(80) and x1 == pytest.approx(120)
    # The value axis follows what is in view: the loss between iterations 80 and 120 (0.0145–0.0201),
    # not its whole range (up to 0.06).
    _, (low, high) = panel.loss_plot.vb.viewRange()
    assert 0.012 < low and high < 0.025
    panel.show_all()
    qtbot.wait(20)
    (x0, x1), _ = panel.quality.vb.viewRange()
    assert x0 <= 1 and x1 >= 200


def test_stop_rule_suggestions_are_labelled_markers(panel) -> None:
    labels = [m.label.format for m in panel._markers if getattr(m, "label", None) is not None]
    assert labels == ["ES-EMV fired at 120", "ES-EMV suggests 95"]
    panel.set_cursor(150)
    assert [line.value() for line in panel._cursor] == [150, 150]
    assert "on view 150" in [line.label.format for line in panel._cursor if getattr(line, "label", None) is not None]
    assert panel.readout.text().startswith("iteration 150")


def test_the_panel_folds_without_curves_and_opens_for_an_iterative_method(qtbot) -> None:
    widget = CurvePanel()
    qtbot.addWidget(widget)
    widget.show()
    widget.set_expected(False)
    assert widget.is_folded() and not widget.rows_widget.isVisible()
    assert "one shot" in widget.placeholder.text()
    widget.set_expected(True)
    assert widget.is_folded() and widget.rows_widget.isVisible()
    widget.add_points(_dip_like_points(5))
    assert not widget.is_folded()


def test_the_figure_has_its_own_size_a_white_page_and_the_curves(panel) -> None:
    image = render_figure(panel.series(), panel.styles(), panel.events(), "Deep Image Prior on astronaut", cursor=150)
    assert (image.width(), image.height()) == (1200, 800)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    assert np.mean(np.all(pixels > 240, axis=2)) > 0.6  # mostly white paper
    green = np.array([0x00, 0x9E, 0x73])  # "PSNR vs reference"
    assert np.sum(np.abs(pixels - green).sum(axis=2) < 40) > 200
    assert np.sum(np.all(pixels < 40, axis=2)) > 500  # black title, ticks and labels
    # The PSNR axis is laid out: tick labels in the left margin, beside the upper plot.
    assert np.sum(np.all(pixels[60:350, 30:60] < 90, axis=2)) > 150  # (the axis title stands left of x=30)


def test_curve_export_writes_a_figure(window, run_method, small_png: Path, tmp_path: Path) -> None:
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    run_method("slow", params=window.choices["slow"].method.Params(iterations=20, delay=0.0))
    written = window.exports.export_curve(tmp_path / "curve.csv")
    assert written is not None
    picture = load_image(written[1])
    assert (picture.width, picture.height) == (1200, 800)


def test_the_curve_dock_takes_room_while_an_iterative_method_runs_and_gives_it_back(window, qtbot) -> None:
    window.resize(1366, 768)
    qtbot.wait(50)
    assert window.select_method("nlm")
    qtbot.wait(50)
    folded = window.curve_dock.height()
    assert window.select_method("slow")
    qtbot.wait(50)
    chosen = window.curve_dock.height()  # an iterative method chosen: the room stays with the image
    slow = window.choices["slow"].method
    assert window.start_run(params=slow.Params(iterations=5, delay=0.0))
    qtbot.waitUntil(lambda: window.worker is None, timeout=10_000)
    qtbot.wait(50)
    opened = window.curve_dock.height()
    assert folded < 110 and chosen < 110 and opened >= 280
    assert window.height() == 768 and window.width() == 1366
    window.show_train_dock()  # the tallest right column: metrics over the Train dock
    qtbot.wait(50)
    assert window.height() == 768 and window.width() == 1366


@dataclass(frozen=True)
class _RuleParams(Params):
    pass


class _RuleFires(Method[_RuleParams]):
    """Three steps; at the third ES-EMV fires and suggests iteration 2, as Deep Image Prior reports it."""

    id, title, family, Params = "rule", "Rule", "Deep Image Prior", _RuleParams
    iterative = True

    def run(self, noisy: np.ndarray, params: _RuleParams, ctx: RunContext) -> Iterator[Snapshot]:
        for step in (1, 2):
            yield Snapshot(step, 3, image=noisy, loss=1.0 / step)
        yield Snapshot(3, 3, image=noisy, loss=0.3, events=(curves.ES_EMV,),
                       info={curves.suggestion_key(curves.ES_EMV): 2, curves.suggestion_key(curves.ES_WMV): 1})
        yield Snapshot(3, 3, image=noisy, final=True)


def test_the_worker_marks_the_iteration_a_firing_rule_suggests(qtbot) -> None:
    worker = MethodWorker(_RuleFires(), np.full((16, 16, 3), 0.5, np.float32), _RuleParams())
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=5000)
    marks = [(p.step, p.events) for p in worker.points if p.events]
    # ES-EMV fired at 3 and suggested 2; ES-WMV did not fire, so its suggestion is not drawn.
    assert marks == [(3, (curves.ES_EMV,)), (2, (curves.suggestion_event(curves.ES_EMV),))]
