"""The method contract, checked for every registry entry (including those added later).

For each method: the output has the input's shape and is float32 in [0, 1] (on the odd 37×31
RGB fixture and on a grayscale crop); the default parameters pass their own checks; the same
seed gives the same result; a stop request ends the run with a final snapshot.

Iterative methods are asked to stop after their second snapshot, which keeps DIP fast. A
method that cannot run here (no weights) runs with random weights when it offers
``use_random_weights(seed)``; otherwise it is skipped with its reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from denoise_studio.core.method import FAMILIES, Method, RunContext, Snapshot
from denoise_studio.core.params import Params
from denoise_studio.methods import REGISTRY

IDS = list(REGISTRY)
# Snapshots allowed after a stop request before the final one (a method finishes its step).
GRACE = 3
# The number of snapshots before the stop request.
STOP_AFTER = 2


def make_method(method_id: str) -> Method[Any]:
    """A runnable instance, or a skip with the reason it cannot run here."""
    method = REGISTRY[method_id].create()
    reason = method.availability()
    if reason is not None:
        randomise = getattr(method, "use_random_weights", None)
        if randomise is None:
            pytest.skip(f"{method_id} unavailable: {reason}")
        randomise(0)
        reason = method.availability()
        if reason is not None:
            pytest.skip(f"{method_id} unavailable even with random weights: {reason}")
    return method


def run_with_stop(method: Method[Any], noisy: np.ndarray, seed: int = 0) -> tuple[Snapshot, list[Snapshot]]:
    """Run, asking for a stop after the STOP_AFTER-th snapshot; the final snapshot and all seen."""
    ctx = RunContext(seed=seed)
    params = method.default_params(noisy)
    seen: list[Snapshot] = []
    stopped_at = None
    for snap in method.run(noisy, params, ctx):
        seen.append(snap)
        if snap.final:
            return snap, seen
        if len(seen) == STOP_AFTER:
            ctx.request_stop()
            stopped_at = len(seen)
        if stopped_at is not None and len(seen) - stopped_at > GRACE:
            pytest.fail(f"{method.id} went on for {GRACE} snapshots after a stop request")
    pytest.fail(f"{method.id} ended without a final snapshot")


@pytest.fixture
def gray_crop(small_gray: np.ndarray) -> np.ndarray:
    """A deliberately odd-sized 29×35 grayscale crop (H×W×1)."""
    return np.ascontiguousarray(small_gray[5:34, 3:38])


@pytest.mark.parametrize("method_id", IDS)
def test_entry_matches_its_class(method_id: str) -> None:
    entry = REGISTRY[method_id]
    cls = entry.load()
    assert cls.id == method_id
    assert cls.family == entry.family and entry.family in FAMILIES
    assert issubclass(cls.Params, Params)
    assert cls.title and (cls.__doc__ or "").strip(), "every method names its paper in its docstring"


@pytest.mark.parametrize("method_id", IDS)
def test_default_params_pass_their_checks(method_id: str) -> None:
    cls = REGISTRY[method_id].load()
    defaults = cls.Params()
    assert type(defaults).from_dict(defaults.to_dict()) == defaults
    names = {f.name for f in dataclasses.fields(cls.Params)}
    for spec in cls.Params.specs():
        assert spec.name in names
        value = spec.default
        if value is None:
            assert cls.Params._is_optional(spec.name)
            continue
        if spec.choices is not None:
            assert value in spec.choices
        if spec.minimum is not None and not isinstance(value, (str, bool)):
            assert value >= spec.minimum
        if spec.maximum is not None and not isinstance(value, (str, bool)):
            assert value <= spec.maximum


@pytest.mark.parametrize("method_id", IDS)
def test_every_parameter_has_a_description(method_id: str) -> None:
    """The panel shows it as a tooltip and `denoise-studio methods` prints it."""
    cls = REGISTRY[method_id].load()
    missing = [spec.name for spec in cls.Params.specs() if not spec.description.strip()]
    assert not missing, f"{method_id}: parameters without a description: {', '.join(missing)}"


@pytest.mark.parametrize("method_id", IDS)
@pytest.mark.parametrize("fixture", ["odd_rgb", "gray_crop"])
def test_output_has_the_input_shape_and_range(method_id: str, fixture: str, request: pytest.FixtureRequest) -> None:
    image = request.getfixturevalue(fixture)
    noisy = np.clip(image + np.random.default_rng(3).normal(0, 0.08, image.shape), 0, 1).astype(np.float32)
    before = noisy.copy()
    method = make_method(method_id)
    final, _ = run_with_stop(method, noisy)
    assert final.image is not None
    assert final.image.shape == noisy.shape
    assert final.image.dtype == np.float32
    assert np.all(np.isfinite(final.image))
    assert final.image.min() >= 0.0 and final.image.max() <= 1.0
    assert not np.shares_memory(final.image, noisy), "a snapshot owns its image"
    np.testing.assert_array_equal(noisy, before, err_msg="the method modified its input")


@pytest.mark.parametrize("method_id", IDS)
def test_same_seed_same_result(method_id: str, odd_rgb: np.ndarray) -> None:
    noisy = np.clip(odd_rgb + np.random.default_rng(4).normal(0, 0.08, odd_rgb.shape), 0, 1).astype(np.float32)
    first, _ = run_with_stop(make_method(method_id), noisy, seed=7)
    second, _ = run_with_stop(make_method(method_id), noisy, seed=7)
    np.testing.assert_array_equal(first.image, second.image)


@pytest.mark.parametrize("method_id", IDS)
def test_a_stop_request_ends_with_a_final_snapshot(method_id: str, odd_rgb: np.ndarray) -> None:
    method = make_method(method_id)
    final, seen = run_with_stop(method, odd_rgb)
    assert final.final and final.image is not None
    assert sum(s.final for s in seen) == 1 and seen[-1] is final
    if method.iterative:
        assert len(seen) <= STOP_AFTER + GRACE + 1


@pytest.mark.parametrize("method_id", IDS)
def test_a_stop_before_the_start_still_gives_a_result(method_id: str, odd_rgb: np.ndarray) -> None:
    method = make_method(method_id)
    ctx = RunContext(seed=0)
    ctx.request_stop()
    snaps = []
    for snap in method.run(odd_rgb, method.default_params(odd_rgb), ctx):
        snaps.append(snap)
        if snap.final or len(snaps) > GRACE + 1:
            break
    assert snaps and snaps[-1].final and snaps[-1].image is not None
    assert snaps[-1].image.shape == odd_rgb.shape
