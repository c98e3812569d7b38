"""The names of the curves and events that iterative methods report, shared by every layer.

A method's snapshots carry scalars under these names (``Snapshot.scalars``) and events under
the stopping rules' names; the window's curve, the command line's CSV and peak
figures, and the benchmarks read them by these constants, never by literals.
"""

from __future__ import annotations

#: The training loss of the step (``Snapshot.loss``; a column of the CLI's CSV).
LOSS = "loss"
#: PSNR of the raw output against the noisy input, and of the averaged (EMA) output.
PSNR_NOISY = "psnr_noisy"
PSNR_NOISY_AVG = "psnr_noisy_avg"
#: PSNR against the clean reference (reported only when the run is given one).
PSNR_REF = "psnr_ref"
PSNR_REF_AVG = "psnr_ref_avg"
#: PSNR against the reference measured by the window's worker for methods that report none.
PSNR = "psnr"
#: Validation PSNR of a training run.
PSNR_VALIDATION = "psnr_validation"
#: The running variances that the stopping rules watch (ES-WMV, ES-EMV).
VARIANCE_WMV = "variance_wmv"
VARIANCE_EMV = "variance_emv"

#: The stopping rules (Wang et al., 2023) by the names that parameters, events and ``info`` use;
#: :data:`NO_RULE` lets the run go to its iteration count or to a stop by the user.
ES_WMV = "es-wmv"
ES_EMV = "es-emv"
RULES = (ES_WMV, ES_EMV)
NO_RULE = "none"

#: Events: the divergence guard rolled back; a stopping rule fired; the run was stopped.
EVENT_GUARD = "guard"
EVENT_STOP = "stop"


def suggestion_key(rule: str) -> str:
    """The ``info`` key under which a run reports the iteration ``rule`` suggests."""
    return f"suggested_iteration_{rule.removeprefix('es-')}"


def suggestion_event(rule: str) -> str:
    """The event marking the iteration ``rule`` suggests (drawn where the suggestion lies, not
    where the rule fired, which is up to its patience later)."""
    return f"{rule}-suggestion"


def is_variance(name: str) -> bool:
    """Whether a curve is a stopping rule's variance (plotted on its own axis)."""
    return name.startswith("variance")


def is_reference_psnr(name: str) -> bool:
    """Whether a curve measures PSNR against the clean reference."""
    return name in (PSNR_REF, PSNR_REF_AVG, PSNR)
