"""The parts of the DIP loop one by one: the guard, the output average, the stopping rules."""

from __future__ import annotations

import pytest
import torch

from denoise_studio.core.curves import ES_EMV, ES_WMV, NO_RULE, VARIANCE_EMV, VARIANCE_WMV, suggestion_key
from denoise_studio.methods._common.dip_fit import Guard, OutputAverage
from denoise_studio.methods._common.dip_rules import StopRules


def test_the_guard_restores_the_last_good_weights_after_a_drop_of_more_than_5_db() -> None:
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    guard = Guard([weight], enabled=True)
    assert not guard.check(1, 20.0)  # from 0 dB: never a drop
    with torch.no_grad():
        weight.add_(10.0)
    assert not guard.check(2, 16.0)  # −4 dB: accepted, these weights become the good ones
    good = weight.detach().clone()
    with torch.no_grad():
        weight.mul_(-3.0)
    assert guard.check(3, 10.5)  # −5.5 dB: restored
    assert torch.equal(weight.detach(), good)
    assert guard.steps == [3] and guard.psnr_last == 16.0


def test_a_disabled_guard_never_fires_nor_copies() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    guard = Guard([weight], enabled=False)
    assert not guard.check(1, 30.0) and not guard.check(2, 0.0)
    assert guard.steps == [] and guard.psnr_last == 0.0


def test_the_output_average_is_the_notebooks_exponential_average() -> None:
    average = OutputAverage(0.9)
    first = average.update(torch.tensor([1.0]))
    assert torch.equal(first, torch.tensor([1.0]))
    assert torch.allclose(average.update(torch.tensor([0.0])), torch.tensor([0.9]))
    assert torch.allclose(average.update(torch.tensor([2.0])), torch.tensor([0.9 * 0.9 + 0.1 * 2.0]))
    no_average = OutputAverage(0.0)
    no_average.update(torch.tensor([5.0]))
    assert torch.equal(no_average.update(torch.tensor([3.0])), torch.tensor([3.0]))


def test_the_rules_suggest_the_minimum_of_the_variance_and_stop_after_the_patience() -> None:
    rules = StopRules(window=4, patience=5, emv_alpha=0.5)
    generator = torch.Generator().manual_seed(0)
    events_at: dict[str, int] = {}
    # Outputs that settle (variance falls) until step 12, then start to move again.
    for step in range(1, 40):
        spread = 1.0 / step if step <= 12 else 0.05 * (step - 12)
        output = spread * torch.randn(1, 1, 4, 4, generator=generator)
        for name in rules.update(step, output, output + 1.0):
            events_at[name] = step
        if rules.should_stop(ES_WMV) and rules.should_stop(ES_EMV):
            break
    suggestions = rules.suggestions()
    wmv_step, emv_step = suggestions[suggestion_key(ES_WMV)], suggestions[suggestion_key(ES_EMV)]
    assert wmv_step is not None and 8 <= wmv_step <= 16
    assert emv_step is not None and 8 <= emv_step <= 16
    assert events_at[ES_WMV] == wmv_step + 5 and events_at[ES_EMV] == emv_step + 5
    assert set(rules.suggested) == {ES_WMV, ES_EMV}  # the averaged output at each suggestion
    assert set(rules.variances()) == {VARIANCE_WMV, VARIANCE_EMV}
    assert not rules.should_stop(NO_RULE)


def test_rules_fed_every_k_steps_cover_the_same_steps_and_stop_after_the_same_patience() -> None:
    """k = 4: a window of W/4 outputs and α·4, suggestions and patience still in steps."""
    rules = StopRules(window=100, patience=200, emv_alpha=0.02, every=4)
    assert rules.wmv.window == 25 and rules.emv.alpha == pytest.approx(0.08)
    assert [t for t in range(1, 13) if rules.wants(t)] == [4, 8, 12]
    generator = torch.Generator().manual_seed(0)
    for step in range(4, 2000, 4):
        spread = 1.0 / step if step <= 600 else 0.001 * (step - 600)
        output = spread * torch.randn(1, 1, 8, 8, generator=generator)
        rules.update(step, output, output)
        if rules.should_stop(ES_WMV) and rules.should_stop(ES_EMV):
            break
    suggestions = rules.suggestions()
    for name in (ES_WMV, ES_EMV):
        suggested = suggestions[suggestion_key(name)]
        assert suggested is not None and suggested % 4 == 0 and 400 <= suggested <= 700
        assert getattr(rules, name[3:]).stop_step == suggested + 200
