"""ES-WMV and ES-EMV on synthetic output sequences with a known variance profile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.early_stop import ExponentialVariance, WindowedVariance, make_rule


def _outputs(steps: int, t_min: int, seed: int = 0) -> list[torch.Tensor]:
    """i.i.d. outputs whose per-pixel spread is U-shaped in t with its minimum at ``t_min``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in range(1, steps + 1):
        std = 0.01 + 0.05 * abs(t - t_min) / steps
        out.append(0.5 + std * torch.randn((3, 16, 16), generator=g))
    return out


def test_wmv_variance_is_the_window_variance() -> None:
    rule = WindowedVariance(window=5, patience=10)
    xs = [torch.full((2, 2), float(v)) for v in (0, 1, 2, 3, 4, 5, 6)]
    for t, x in enumerate(xs, 1):
        rule.update(t, x)
        if t < 5:
            assert rule.variance is None
    assert rule.variance == pytest.approx(np.var([2, 3, 4, 5, 6]))


def test_wmv_running_sums_match_the_exact_window_variance_after_many_steps() -> None:
    """The running sums take each old output away exactly: no drift after thousands of steps."""
    window = 100
    rule = WindowedVariance(window=window, patience=10_000)
    g = torch.Generator().manual_seed(3)
    recent: list[torch.Tensor] = []
    for t in range(1, 3001):
        # DIP-like: values near 0.5 with a spread that shrinks to 1e-3 (variances near 1e-6).
        x = 0.5 + (0.1 / t**0.5 + 1e-3) * torch.randn((3, 8, 8), generator=g)
        rule.update(t, x)
        recent = (recent + [x])[-window:]
    exact = float(torch.var(torch.stack(recent).double(), dim=0, unbiased=False).mean())
    assert rule.variance == pytest.approx(exact, rel=1e-6)


def test_wmv_finds_the_minimum_and_stops_after_patience() -> None:
    window, patience, t_min = 20, 100, 300
    rule = WindowedVariance(window, patience)
    stopped_at = None
    for t, x in enumerate(_outputs(600, t_min), 1):
        rule.update(t, x)
        if rule.should_stop and stopped_at is None:
            stopped_at = t
    assert rule.best_step is not None
    # The window ending at t covers t-W+1..t, so its minimum lies about W/2 after t_min.
    assert abs(rule.best_step - (t_min + window // 2)) <= window // 2
    assert stopped_at == rule.stop_step == rule.best_step + patience


def test_emv_finds_the_minimum_with_constant_memory() -> None:
    t_min = 300
    rule = ExponentialVariance(alpha=0.1, patience=100, warmup=20)
    for t, x in enumerate(_outputs(600, t_min, seed=1), 1):
        rule.update(t, x)
        assert rule._mean is not None and rule._mean.shape == (3, 16, 16)  # no history kept
    assert rule.best_step is not None and abs(rule.best_step - t_min) <= 15
    assert rule.should_stop and rule.stop_step == rule.best_step + 100


def test_emv_ignores_the_warmup() -> None:
    rule = ExponentialVariance(alpha=0.5, patience=5, warmup=10)
    for t in range(1, 11):
        rule.update(t, torch.full((4,), float(t % 2)))
    assert rule.variance is None and rule.best_step is None and not rule.should_stop


def test_no_stop_while_improving() -> None:
    rule = WindowedVariance(window=3, patience=2)
    for t in range(1, 50):
        rule.update(t, torch.full((4,), float(t % 2) / t))  # shrinking oscillation: always a new minimum
    assert rule.best_step == 49 and not rule.should_stop


def test_make_rule_and_errors() -> None:
    assert isinstance(make_rule("es-wmv"), WindowedVariance)
    assert isinstance(make_rule("es-emv"), ExponentialVariance)
    with pytest.raises(ValueError):
        make_rule("es-xyz")
    with pytest.raises(ValueError):
        WindowedVariance(window=1)
    with pytest.raises(ValueError):
        ExponentialVariance(alpha=0.0)


def test_the_suggestion_is_frozen_once_the_rule_stops() -> None:
    rule = WindowedVariance(window=2, patience=3)
    values = [0.0, 1.0, 0.0, 1.0, 0.0] + [0.5] * 6  # variance 0.25 until step 5, then 0
    for t, v in enumerate(values, 1):
        rule.update(t, torch.tensor([v]))
    assert rule.stop_step == 5 and rule.best_step == 2  # not moved by the later, lower variance
    assert rule.variance == 0.0  # still reported
