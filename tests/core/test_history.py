"""The DIP time machine: exact iterates back, keyframes, the memory budget, threads."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from denoise_studio.core.history import IterateHistory


def _iterate(step: int, shape: tuple[int, int, int] = (40, 60, 3)) -> np.ndarray:
    return np.random.default_rng(step).random(shape, dtype=np.float32)


def test_get_returns_exactly_the_stored_iterate() -> None:
    h = IterateHistory(preview_max_side=30, keyframe_interval=5)
    for step in range(1, 13):
        h.record(step, _iterate(step))
    assert h.steps() == list(range(1, 13))
    assert h.keyframe_steps() == [1, 5, 10]
    for step in h.steps():
        full = _iterate(step)
        got = h.get(step)
        if h.has_keyframe(step):
            assert got.shape == full.shape
            np.testing.assert_array_equal(got, full.astype(np.float16).astype(np.float32))
        else:
            expected = cv2.resize(full, (30, 20), interpolation=cv2.INTER_AREA).astype(np.float16).astype(np.float32)
            assert got.shape == (20, 30, 3)
            np.testing.assert_array_equal(got, expected)
    # A returned array is a copy: changing it does not change the store.
    h.get(3)[:] = 0
    assert h.get(3).max() > 0
    with pytest.raises(KeyError):
        h.get(99)
    assert h.nearest(99) == 12 and h.nearest(0) == 1


def test_small_images_are_kept_at_full_resolution() -> None:
    h = IterateHistory(preview_max_side=256)
    x = _iterate(1, (31, 37, 1))
    h.record(1, x)
    np.testing.assert_array_equal(h.get(1), x.astype(np.float16).astype(np.float32))


def test_tensor_input() -> None:
    h = IterateHistory(preview_max_side=64)
    x = torch.rand(1, 3, 20, 24)
    h.record(1, x)
    np.testing.assert_array_equal(h.get(1), x[0].permute(1, 2, 0).numpy().astype(np.float16).astype(np.float32))


def test_budget_is_respected_and_history_spans_the_run() -> None:
    preview_bytes = 20 * 30 * 3 * 2
    budget = 50 * preview_bytes + 4 * (40 * 60 * 3 * 2)
    h = IterateHistory(budget_bytes=budget, preview_max_side=30, keyframe_interval=100)
    for step in range(1, 1001):
        h.record(step, _iterate(step % 17))
        assert h.nbytes <= budget
    steps = h.steps()
    assert h.stride > 1  # thinning happened
    assert steps[0] == 1 and steps[-1] >= 1000 - h.stride  # still spans the whole run
    assert len(h.keyframe_steps()) >= 2
    assert h.summary()["nbytes"] == h.nbytes


def test_concurrent_reader_and_writer() -> None:
    h = IterateHistory(budget_bytes=200_000, preview_max_side=16, keyframe_interval=10)
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                for s in h.steps():
                    try:
                        assert h.get(s).dtype == np.float32
                    except KeyError:
                        pass  # thinned between steps() and get(): allowed
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for step in range(1, 400):
        h.record(step, _iterate(step % 5, (32, 32, 3)))
    done.set()
    t.join()
    assert not errors and h.nbytes <= 200_000
