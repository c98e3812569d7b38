"""A photo with a colour profile other than sRGB is shown converted to sRGB; the pixels that
are denoised, read out and exported keep the file's own colour space and profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import photo_files

from denoise_studio.core.image import load_image, save_image
from denoise_studio.core.metadata import ICC_PROFILE
from denoise_studio.gui.image_viewer import ImageViewer, to_display


def test_the_viewer_paints_in_srgb_and_keeps_the_pixels(qtbot) -> None:  # type: ignore[no-untyped-def]
    viewer = ImageViewer()
    qtbot.addWidget(viewer)
    grey = np.full((6, 8, 3), 0.5, np.float32)
    viewer.set_images([("Input", grey)])
    assert (viewer._layers[0].display == 128).all()
    viewer.colour_profile = photo_files.linear_rgb_profile()
    viewer.set_images([("Input", grey)])
    assert np.all(np.abs(viewer._layers[0].display.astype(int) - 188) <= 2)
    assert viewer.images()[0][1] is grey


def test_the_window_shows_an_opened_photo_through_its_profile(window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_image(tmp_path / "linear.png", np.full((32, 40, 3), 0.5, np.float32), metadata={ICC_PROFILE: photo_files.linear_rgb_profile()})
    assert window.open_image(str(path))
    assert window.viewer.colour_profile == photo_files.linear_rgb_profile()
    np.testing.assert_allclose(window.noisy, load_image(path).pixels)
    assert window.open_image("sample:astronaut")  # it carries the sRGB profile: painted as is
    assert window.viewer.colour_profile is not None
    np.testing.assert_array_equal(window.viewer._layers[0].display, to_display(window.noisy))


def test_the_window_exports_a_photo_with_its_depth_and_metadata(window, run_method, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = photo_files.write_photo(tmp_path, "png16")
    before = photo_files.digest(source)
    assert window.open_image(str(source))
    run_method("median")
    entry = window.results.all()[0]
    out = window.exports.export_result(entry.id, tmp_path / "result.png")  # no depth asked: the input's
    assert out is not None and load_image(out).bit_depth == 16
    tags = photo_files.read_tags(out)
    assert (tags["make"], tags["taken"], tags["orientation"], tags["icc"]) == (photo_files.MAKE, photo_files.TAKEN, 1, photo_files.lab_profile())
    assert photo_files.digest(source) == before
