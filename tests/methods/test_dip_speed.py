"""The CPU speed probe that scales DIP's cost estimate (methods/_common/dip_speed.py)."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch

from denoise_studio.methods._common import dip_speed
from denoise_studio.methods.dip import DIP, FAST


def test_the_probe_times_the_fast_presets_network() -> None:
    assert dip_speed.PROBE_NETWORK == FAST


def test_a_real_probe_measures_on_its_own_thread_and_keeps_the_callers_threads(two_torch_threads: None) -> None:
    before = torch.get_num_threads()
    assert before == 2
    dip_speed.set_ratio(None)
    random_state = torch.get_rng_state()
    ratio = dip_speed.measure()
    assert torch.get_num_threads() == before
    assert torch.equal(torch.get_rng_state(), random_state)  # unseeded draws elsewhere are not moved
    seen: list[int] = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))  # a run's worker, started afterwards
    later.start()
    later.join()
    assert seen == [before]
    low, high = dip_speed.RATIO_LIMITS
    assert math.isfinite(ratio) and low < ratio < high
    assert dip_speed.ratio() == ratio  # kept: no second probe


def test_the_estimate_scales_with_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    method = DIP()
    noisy = np.zeros((256, 256, 3), np.float32)
    params = method.starting_params(noisy, "cpu")
    dip_speed.set_ratio(1.0)
    fitted = method.estimate_cost(noisy.shape, params, "cpu").seconds
    monkeypatch.setattr(dip_speed, "probe_seconds", lambda: 0.5 * dip_speed.PROBE_SECONDS_WHEN_FITTED)
    assert dip_speed.measure() == pytest.approx(0.5)  # this CPU runs twice as fast today
    assert method.estimate_cost(noisy.shape, params, "cpu").seconds == pytest.approx(0.5 * fitted)
    monkeypatch.setattr(dip_speed, "probe_seconds", lambda: 1e6)  # a suspended machine
    assert dip_speed.measure() == dip_speed.RATIO_LIMITS[1]


def test_a_probe_that_fails_leaves_the_model_as_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> float:
        raise RuntimeError("no kernels")

    monkeypatch.setattr(dip_speed, "probe_seconds", broken)
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)
    dip_speed.set_ratio(None)
    assert dip_speed.measure() == 1.0


def test_estimates_do_not_wait_for_a_running_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_probe() -> float:
        release.wait(10)
        return 2 * dip_speed.PROBE_SECONDS_WHEN_FITTED

    monkeypatch.setattr(dip_speed, "probe_seconds", slow_probe)
    dip_speed.set_ratio(None)
    behind = threading.Thread(target=dip_speed.measure)  # the window's loading thread
    behind.start()
    deadline = time.monotonic() + 5
    while not dip_speed._pending and time.monotonic() < deadline:
        time.sleep(0.001)
    started = time.perf_counter()
    assert dip_speed.ratio() == 1.0  # meanwhile, as fitted
    assert time.perf_counter() - started < 0.5
    release.set()
    behind.join(10)
    assert dip_speed.ratio() == pytest.approx(2.0)
