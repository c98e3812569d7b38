"""The stopping rules of a DIP run side by side: ES-WMV and ES-EMV and the iterates they suggest.

Both rules always run (their curves and suggestions are shown); only the rule named by the run's
``stop_rule`` ends it. With ``every = k > 1`` the rules see every k-th output only (the jitter-free
pass is then made on those steps alone, see ``dip_loop``): ES-WMV's window holds W/k outputs and
ES-EMV's α is k·α, so both still measure the outputs of the last W steps; the patience and the
suggested iterations stay counted in steps.
"""

from __future__ import annotations

import torch

from denoise_studio.core.curves import ES_EMV, ES_WMV, VARIANCE_EMV, VARIANCE_WMV, suggestion_key
from denoise_studio.core.early_stop import ExponentialVariance, WindowedVariance


class StopRules:
    """ES-WMV and ES-EMV, with the averaged output each one suggests.

    An event is reported once, at the step a rule detects its stop.
    """

    def __init__(self, window: int = 100, patience: int = 1000, emv_alpha: float = 0.02, every: int = 1) -> None:
        self.every = max(1, int(every))
        samples = max(2, round(window / self.every))
        self.wmv = WindowedVariance(samples, patience)
        self.emv = ExponentialVariance(min(1.0, emv_alpha * self.every), patience, warmup=samples)
        self.suggested: dict[str, torch.Tensor] = {}
        self._seen: set[str] = set()

    def wants(self, step: int) -> bool:
        """Whether the output of ``step`` (1-based) is one the rules measure."""
        return step % self.every == 0

    def update(self, step: int, measured: torch.Tensor, average: torch.Tensor) -> list[str]:
        """Feed one output to both rules; returns the rules that detected their stop now."""
        events = []
        for rule, name in ((self.wmv, ES_WMV), (self.emv, ES_EMV)):
            if rule.update(step, measured):
                self.suggested[name] = average.clone()
            if rule.should_stop and name not in self._seen:
                self._seen.add(name)
                events.append(name)
        return events

    def should_stop(self, name: str) -> bool:
        """Whether the rule called ``name`` ends the run now (``"none"``: never)."""
        return (name == ES_WMV and self.wmv.should_stop) or (name == ES_EMV and self.emv.should_stop)

    def variances(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.wmv.variance is not None:
            out[VARIANCE_WMV] = self.wmv.variance
        if self.emv.variance is not None:
            out[VARIANCE_EMV] = self.emv.variance
        return out

    def suggestions(self) -> dict[str, int | None]:
        return {suggestion_key(ES_WMV): self.wmv.best_step, suggestion_key(ES_EMV): self.emv.best_step}
