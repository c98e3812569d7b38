"""First-use advice in the Method dock: weights that fit the noise, DIP's first try, a region first."""

from __future__ import annotations

from pathlib import Path

from denoise_studio.core.curves import ES_EMV


def _banner(window):  # type: ignore[no-untyped-def]
    return window.first_use.banner


def test_camera_weights_on_gaussian_noise_say_so_and_offer_a_network_that_fits(window) -> None:  # type: ignore[no-untyped-def]
    window.add_noise("gaussian", 25.0, seed=0)
    assert window.select_method("ap_bsn")
    advice = window.first_use
    assert advice.noise_label.isVisible() and "camera noise, σ 5–15" in advice.noise_label.text()
    assert _banner(window).isVisible()
    text = _banner(window).label.text()
    assert "camera noise" in text and "the image has Gaussian noise" in text and "No weights of this method fit" in text
    assert _banner(window).button.text().startswith("Switch to ")
    _banner(window).button.click()
    assert window.current_method_id() != "ap_bsn"
    assert "Gaussian noise" in advice.noise_label.text() and not _banner(window).isVisible()


def test_the_method_s_own_weights_that_fit_are_offered_first(window) -> None:  # type: ignore[no-untyped-def]
    window.add_noise("gaussian", 25.0, seed=0)
    assert window.select_method("invdn")
    panel = window.param_panel()
    assert not _banner(window).isVisible()  # auto: the Gaussian weights come first
    combo = panel.fields["weights"].editor  # the user picks the camera weights
    combo.setCurrentIndex(combo.findData("invdn-lite-camera"))
    assert _banner(window).isVisible() and _banner(window).button.text() == "Use invdn-lite"
    _banner(window).button.click()
    assert panel.values().weights == "invdn-lite" and not _banner(window).isVisible()


def test_a_photo_s_estimated_noise_is_checked_against_the_weights(window, small_png: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_image(str(small_png))  # clean: σ estimated near 1-2
    assert window.select_method("masked")  # trained at σ 15 only
    assert _banner(window).isVisible() and "weaker than these weights expect" in _banner(window).label.text()


def test_deep_image_prior_starts_with_the_rule_and_proposes_a_region(window) -> None:  # type: ignore[no-untyped-def]
    window.add_noise("gaussian", 25.0, seed=0)
    assert window.select_method("dip")
    params = window.param_panel().values()
    assert params.stop_rule == ES_EMV and params.iterations == 2000
    banner = _banner(window)
    assert banner.isVisible() and "The whole image may take up to" in banner.label.text()
    assert "ES-EMV may stop it sooner" in banner.label.text() and "Try a 128×128 region first (about" in banner.label.text()
    banner.button.click()
    assert window.method_dock.region_wanted() and not banner.isVisible()


def test_no_region_advice_for_a_small_image(window, small_png: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.open_image(str(small_png))
    assert window.select_method("dip")
    assert not _banner(window).isVisible()
    assert window.select_method("nlm")
    assert not window.first_use.noise_label.isVisible()


def test_a_first_try_screenshot_selects_without_running(qapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import argparse
    import time

    from denoise_studio.commands.gui import add_arguments, run
    from denoise_studio.core.image import load_image

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "first-try.png"
    started = time.monotonic()
    args = parser.parse_args(["sample:astronaut", "--noise-sigma", "25", "--method", "dip", "--no-run", "--screenshot", str(out)])
    assert run(args) == 0
    assert time.monotonic() - started < 60  # a whole-image DIP run would take many minutes here
    assert load_image(out).width == 1600


def test_the_first_try_is_fitted_to_the_picked_device(window) -> None:  # type: ignore[no-untyped-def]
    window.method_dock.first_try_device = lambda: "cuda"  # as if the picker said CUDA: the paper preset
    assert window.select_method("dip")
    assert window.param_panel().values().iterations == 2500
