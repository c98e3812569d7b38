"""The session (input, noise, reference) and the result model, without Qt."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_studio.core import metrics
from denoise_studio.core.errors import UserError
from denoise_studio.core.image import ImageData, load_image
from denoise_studio.core.result import HEATMAP_ERROR, HEATMAP_REMOVED, Result, crop, measure
from denoise_studio.core.session import Session
from denoise_studio.methods import create_method


@pytest.fixture
def session(small_rgb: np.ndarray) -> Session:
    session = Session()
    session.open(ImageData(pixels=small_rgb, bit_depth=8, source="face.png"), "face.png")
    return session


def test_adding_noise_keeps_the_clean_image_as_reference_and_tells_the_listeners(session: Session, small_rgb: np.ndarray) -> None:
    heard: list[str] = []
    session.subscribe(heard.append)
    session.add_noise("gaussian", 25.0, 3)
    first = session.noisy
    assert session.reference is small_rgb and session.noise == {"model": "gaussian", "sigma": 25.0, "seed": 3}
    psnr, ssim, sigma = session.baseline()
    assert 19.0 < psnr < 23.0 and ssim is not None and sigma is None  # σ 25 on 8 bits: about 20.6 dB
    session.add_noise("gaussian", 10.0, 3)  # noise again: replaces the noise, not added on top
    assert session.reference is small_rgb and metrics.psnr(session.noisy, small_rgb) > 27.0
    assert not np.array_equal(first, session.noisy)
    assert heard == ["noise", "noise"]
    assert "gaussian noise σ 10" in session.describe() and session.protected_paths() == ("face.png",)


def test_a_reference_of_another_size_is_refused_and_nothing_changes(session: Session, small_rgb: np.ndarray) -> None:
    with pytest.raises(UserError, match="size and channels"):
        session.set_reference(ImageData(pixels=small_rgb[:-1], bit_depth=8, source="other.png"), "other.png")
    assert session.reference is None
    _, _, sigma = session.baseline()
    assert sigma is not None  # without a reference: the noise estimate of the input


def test_a_region_cuts_the_noisy_image_and_the_reference_alike(session: Session) -> None:
    session.add_noise("gaussian", 25.0, 0)
    noisy, reference = session.region((3, 5, 10, 7))
    assert noisy.shape == reference.shape == (7, 10, 3)
    assert np.array_equal(noisy, session.noisy[5:12, 3:13]) and noisy.flags.c_contiguous


def test_measure_with_and_without_a_reference(small_rgb: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(small_rgb + rng.normal(0, 0.1, small_rgb.shape), 0, 1).astype(np.float32)
    denoised = np.clip((noisy + small_rgb) / 2, 0, 1).astype(np.float32)
    with_ref = measure(denoised, noisy, small_rgb)
    assert with_ref.psnr == pytest.approx(metrics.psnr(denoised, small_rgb)) and with_ref.heatmap_kind == HEATMAP_ERROR
    assert with_ref.ssim is not None and with_ref.heatmap.shape == small_rgb.shape[:2]
    without = measure(denoised, noisy, None, with_sigma=True)
    assert without.psnr is None and without.heatmap_kind == HEATMAP_REMOVED and without.sigma is not None
    assert np.allclose(without.heatmap, metrics.difference(noisy, denoised))
    assert crop(noisy, None) is noisy


def test_a_result_survives_its_record_and_an_old_manifest_entry(small_rgb: np.ndarray) -> None:
    params = create_method("nlm").default_params()
    result = Result("nlm", "Non-local means", params, small_rgb, seed=4, psnr=30.5, iteration=None, region=(1, 2, 3, 4),
                    noise={"model": "gaussian", "sigma": 25.0, "seed": 0}, info={"weights": {"name": "x"}, "map": small_rgb})
    record = result.to_record()
    assert "map" not in record["info"]  # arrays stay out of the JSON manifest
    again = Result.from_record(record, small_rgb, params)
    assert (again.method_id, again.seed, again.psnr, again.region, again.noise) == ("nlm", 4, 30.5, (1, 2, 3, 4), result.noise)
    assert again.weights == {"name": "x"}
    old = {"method_id": "dip", "method_title": "Deep Image Prior @ 5", "seed": 1,
           "extra": {"iteration": 5, "region": [0, 0, 8, 8], "reference": "clean.png", "final_step": 5}}
    restored = Result.from_record(old, small_rgb, None)
    assert restored.iteration == 5 and restored.region == (0, 0, 8, 8) and restored.reference_source == "clean.png"


def test_the_astronaut_sample_opens_as_a_session() -> None:
    data = load_image("sample:astronaut")
    session = Session()
    session.open(data, "sample:astronaut")
    assert session.display_name() == "astronaut (sample)" and session.protected_paths() == ()
