"""How fast this CPU runs Deep Image Prior's steps now, against the day its cost model was fitted.

The cost model of :func:`~denoise_studio.methods._common.dip_loop.estimate_cost` holds seconds
per pixel measured on the development machine. The same machine ran the same steps 1.4–1.5×
faster on one day than on another (``docs/BENCHMARKS.md``, "Deep Image Prior: time to quality",
tenth and eleventh sessions), and a user's CPU differs more; a fixed model announced 50 % too
much on the fast day. The probe times a few optimisation steps of the fast preset's network on a
128×128 image on one thread (about half a second) and divides by the probe's time on the
machine and day the model was fitted: every CPU estimate of DIP and NAS-DIP scales by that ratio.

The probe runs in a thread of its own on one OpenMP thread, and puts torch's thread count back
for the threads started after it. The window measures while its methods load (``gui/loading.py``, through
``methods.calibrate_costs``), and an estimate made meanwhile uses 1; elsewhere the first
estimate of a process measures (:func:`ratio`).
"""

from __future__ import annotations

import threading
import time

import torch

from denoise_studio.methods._common.skip_net import SkipConfig, SkipNet

PROBE_SIDE = 128
PROBE_WARM_UP_STEPS = 3
PROBE_STEPS = 7
# The probe's step on the development machine, scaled to the day the cost model's constants held:
# the twelfth session's three runs of the first try's 256×256 step on one thread against the
# model (0.110-0.130 s against 0.180 s, the probe at 37-46 ms) imply 54-65 ms
# (``tools/bench_dip_estimate.py --cases one``; docs/BENCHMARKS.md, "The estimate follows the machine").
PROBE_SECONDS_WHEN_FITTED = 0.060
# A probe that says the CPU is 50× slower measured something else (a suspended laptop).
RATIO_LIMITS = (0.05, 20.0)
# The fast preset's network (``methods/dip.FAST``; a test keeps them equal).
PROBE_NETWORK = SkipConfig(resize="nearest").with_channels(32, skip=4)

_lock = threading.Lock()
_ratio: float | None = None
_pending = False  # a probe is running: estimates use 1 until it ends


def probe_seconds() -> float:
    """The fastest of a few optimisation steps of the probe network, on this thread (a pause of
    the machine can only lengthen a step)."""
    with torch.random.fork_rng(devices=[]):  # the process's random state stays as it was
        torch.manual_seed(0)
        net = SkipNet(PROBE_NETWORK)
    generator = torch.Generator().manual_seed(0)
    code = torch.rand(1, PROBE_NETWORK.in_channels, PROBE_SIDE, PROBE_SIDE, generator=generator) * 0.1
    target = torch.rand(1, PROBE_NETWORK.out_channels, PROBE_SIDE, PROBE_SIDE, generator=generator)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    times = []
    for step in range(PROBE_WARM_UP_STEPS + PROBE_STEPS):
        started = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(code), target).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        if step >= PROBE_WARM_UP_STEPS:
            times.append(time.perf_counter() - started)
    return min(times)


def _probe_on_one_thread(out: list[float]) -> None:
    # OpenMP keeps a count per thread, but torch also keeps the last one set for the threads
    # started afterwards (a DIP run's worker): it is put back when the probe ends.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out.append(probe_seconds())
    finally:
        torch.set_num_threads(before)


def measure() -> float:
    """Run the probe now (in a thread of its own, waited for) and keep its ratio; meanwhile
    :func:`ratio` answers the other threads without waiting."""
    global _ratio, _pending
    with _lock:
        _pending = True
    out: list[float] = []
    thread = threading.Thread(target=_probe_on_one_thread, args=(out,), name="dip-speed-probe", daemon=True)
    thread.start()
    thread.join()
    low, high = RATIO_LIMITS
    with _lock:
        _pending = False
        if out:  # else the probe raised: the model stays as fitted
            _ratio = min(max(out[0] / PROBE_SECONDS_WHEN_FITTED, low), high)
        elif _ratio is None:
            _ratio = 1.0
        return _ratio


def ratio() -> float:
    """This CPU's step time over the fitted one. The first call of a process measures (half a
    second: the command line); while another thread measures, 1 (the window never waits)."""
    with _lock:
        if _ratio is not None:
            return _ratio
        if _pending:
            return 1.0
    return measure()


def set_ratio(value: float | None) -> None:
    """Use ``value`` instead of a probe (tests; None forgets the measurement)."""
    global _ratio, _pending
    with _lock:
        _ratio, _pending = value, False
