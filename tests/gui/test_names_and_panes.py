"""Issue 17: names elided with "…" and said whole in tooltips (pickers, results, the viewer's
header), the exported comparison never cuts a name, side by side fills the viewer at Fit, and
transparent areas are painted over a checkerboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QFontMetrics

from denoise_studio.core.image import load_image, save_image
from denoise_studio.gui.exports import fit_label
from denoise_studio.gui.image_viewer import ImageViewer
from denoise_studio.gui.viewer_panes import CHECKER_GREYS, grid_columns, to_display

LONG = "Masked Image Training: unmasked baseline with its longest configuration name"


@pytest.fixture
def long_result(window, run_method, small_png: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A result whose name is far wider than the results dock."""
    window.open_image(str(small_png))
    window.add_noise("gaussian", 25.0, seed=0)
    monkeypatch.setattr(type(window.choices["gaussian"].method), "title", LONG)
    run_method("gaussian")
    return window.results.all()[-1]


def test_pickers_elide_long_names_and_say_them_whole(window, long_result) -> None:
    combo = window.b_combo
    assert combo.currentText() == long_result.label
    assert combo.shown_text().endswith("…") and len(combo.shown_text()) < len(long_result.label)
    assert long_result.label in combo.toolTip()
    assert combo.itemData(combo.currentIndex(), 3) == long_result.label  # 3: the item's tooltip role
    assert combo.width() < QFontMetrics(combo.font()).horizontalAdvance(long_result.label)  # it did not widen
    assert window.a_combo.shown_text() == window.a_combo.currentText() == "Noisy input"  # short names whole


def test_results_list_says_the_whole_name(window, long_result) -> None:
    item = window.results.list.item(0)
    assert item.toolTip().splitlines()[0] == long_result.label


def test_header_elides_each_name_and_uses_the_pickers_words(window, long_result, qtbot) -> None:
    viewer = window.viewer
    viewer.set_mode("split")
    title = viewer.pane_titles()[0]
    assert window.a_combo.currentText() in title.full_text() and window.b_combo.currentText() in title.full_text()
    window.resize(900, 700)
    qtbot.waitUntil(lambda: "…" in title.shown_text(), timeout=3000)
    assert title.shown_text().startswith("◀ A: Noisy input")  # the short name stays whole
    assert long_result.label in title.toolTip()
    viewer.set_mode("side")
    titles = viewer.pane_titles()
    qtbot.waitUntil(lambda: "…" in titles[1].shown_text(), timeout=3000)
    assert titles[1].toolTip() == long_result.label


def test_exported_comparison_never_cuts_a_name(window, long_result) -> None:
    image = window.exports.comparison_image()
    height = window.viewer.images()[0][1].shape[0]
    for label, shown in window.viewer.images():
        width = shown.shape[1] - 12
        font, flags, needed = fit_label(label, width)
        drawn = QFontMetrics(font).boundingRect(QRect(0, 0, width, 100_000), flags, label)
        assert drawn.width() <= width
        assert image.shape[0] - height >= needed  # the band above the images holds every line
    assert image.shape[0] - height > 34  # this long name took more than the one-line band


def test_grid_columns_show_the_images_largest() -> None:
    assert grid_columns(2, 600, 560, 512, 512) == 2
    assert grid_columns(3, 600, 560, 512, 512) == 2  # three in a row would be 200 px each
    assert grid_columns(3, 1200, 400, 512, 512) == 3


def test_side_by_side_at_fit_fills_the_viewer(window, run_method, qtbot) -> None:
    window.add_noise("gaussian", 25.0, seed=0)  # input, result and reference: three panes
    run_method("gaussian")
    viewer = window.viewer
    viewer.set_mode("side")
    viewer.fit()

    def covered() -> float:
        area = viewer.graphics.width() * viewer.graphics.height()
        shown = 0.0
        for view in viewer.views():
            image = view.addedItems[0].sceneBoundingRect().intersected(view.sceneBoundingRect())
            shown += image.width() * image.height()
        return shown / area

    qtbot.wait(200)  # the layout settles
    assert covered() > 0.5  # one row of three showed a quarter of the viewer
    assert len(viewer.views()) == 3
    sizes = {round(view.sceneBoundingRect().width()) for view in viewer.views()}
    assert len(sizes) == 1  # equal panes, linked
    first = viewer.views()[0]
    assert first.addedItems[0].sceneBoundingRect().top() - first.sceneBoundingRect().top() < 6  # right under its title
    viewer.views()[0].setRange(xRange=(10, 60), yRange=(10, 60), padding=0)
    assert viewer.views()[2].viewRange()[0] == pytest.approx([10, 60], abs=1.0)


def test_transparent_areas_are_painted_over_checks(window, tmp_path: Path) -> None:
    pixels = np.zeros((64, 64, 3), np.float32)
    pixels[:, :, 0] = 1.0  # red
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[:, :32] = 0  # the left half transparent
    path = tmp_path / "rgba.png"
    save_image(path, pixels, alpha=alpha)
    assert load_image(path).alpha is not None
    assert window.open_image(str(path), wait=True)
    assert np.array_equal(window.noisy, pixels)  # the pixels processed stay as they are
    painted = window.viewer._layers[0].display
    assert set(np.unique(painted[:, :32, 0])) == {int(g) for g in CHECKER_GREYS}
    assert (painted[:, 32:] == [255, 0, 0]).all()


def test_to_display_without_alpha_is_unchanged(rng: np.random.Generator) -> None:
    image = rng.random((20, 30, 3), dtype=np.float32)
    half = np.full((20, 30), 0.5, np.float32)
    assert np.array_equal(to_display(image), to_display(image, alpha=None))
    assert not np.array_equal(to_display(image), to_display(image, alpha=half))


def test_a_resized_viewer_rearranges_its_panes(qtbot, rng: np.random.Generator) -> None:
    viewer = ImageViewer()
    qtbot.addWidget(viewer)
    viewer.resize(600, 600)
    viewer.show()
    square = rng.random((64, 64, 3), dtype=np.float32)
    viewer.set_images([("a", square), ("b", square), ("c", square)])
    viewer.set_mode("side")
    assert viewer._built_key[3] == 2
    viewer.resize(1500, 400)
    qtbot.waitUntil(lambda: viewer._built_key[3] == 3, timeout=3000)
