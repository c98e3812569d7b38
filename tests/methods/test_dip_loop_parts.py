"""The parts of the DIP loop one by one: the guard, the output average, the stopping rules."""

from __future__ import annotations

import torch

from denoise_studio.core.curves import ES_EMV, ES_WMV, NO_RULE, VARIANCE_EMV, VARIANCE_WMV, suggestion_key
from denoise_studio.methods._common.dip_loop import DipLoopParams, Guard, OutputAverage, StopRules


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
    params = DipLoopParams(variance_window=4, patience=5, emv_alpha=0.5)
    rules = StopRules(params)
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
    assert events_at[ES_WMV] == wmv_step + params.patience and events_at[ES_EMV] == emv_step + params.patience
    assert set(rules.suggested) == {ES_WMV, ES_EMV}  # the averaged output at each suggestion
    assert set(rules.variances()) == {VARIANCE_WMV, VARIANCE_EMV}
    assert not rules.should_stop(NO_RULE)
