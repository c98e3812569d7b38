"""The method interface: every denoiser is a generator of :class:`Snapshot` objects.

The window, the command line, the benchmark and the tests all drive the same generator. A
method only *stops* when asked (``ctx.stop_requested``); whether that stop was an early stop
(keep the result) or a cancel (discard it) is the caller's decision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from denoise_studio.core.cost import CostEstimate
from denoise_studio.core.errors import UserError
from denoise_studio.core.params import Params
from denoise_studio.core.tiling import SizeRequirements

P = TypeVar("P", bound=Params)

FAMILIES = ("Classical", "Deep Image Prior", "Self-supervised", "Supervised", "Imported")


#: The smallest side of an image any method is asked to denoise.
MIN_SIDE = 8


class MethodError(UserError, RuntimeError):
    """A method cannot run on this input (a message for the user, not a bug)."""


@dataclass
class Snapshot:
    """One report from a running method.

    Parameters
    ----------
    step, total
        Progress: ``step`` of ``total`` (iterations, tiles, or 1 of 1 for one-shot methods).
    image
        An H×W×C float32 image in [0, 1] owned by the snapshot (never a view of a live tensor),
        or ``None`` for a scalar-only report.
    loss
        The training or fitting loss at this step, when there is one.
    final
        True for the last snapshot, whose ``image`` is the result.
    scalars
        Other named curve values (``psnr_noisy``, ``variance``, ...).
    maps
        Named per-pixel maps beside the result (``uncertainty``: the spread of an ensemble).
    events
        Named markers for the curve (``guard``: the weights were restored at this step).
    message
        A line for the status bar.
    """

    step: int
    total: int
    image: np.ndarray | None = None
    loss: float | None = None
    final: bool = False
    scalars: dict[str, float] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """What a run needs besides its input and parameters.

    ``reference`` is the clean image when the caller has one: a method may report PSNR against
    it on its curve, but never uses it to compute its result. ``device`` is a torch device
    string ("cpu", "cuda", "cuda:1", "mps").
    """

    seed: int = 0
    device: str = "cpu"
    reference: np.ndarray | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    resume_event: threading.Event = field(default_factory=threading.Event)
    # An iterate store (core.history.IterateHistory) when the caller wants iterative methods
    # to keep their outputs for the DIP time machine; None otherwise.
    history: Any = None
    # Where the input starts in the image it was cut from (a region's top row and left column):
    # networks trained on camera noise keep its 2×2 Bayer phase by it (core.tiling).
    origin: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.resume_event.set()

    @property
    def stop_requested(self) -> bool:
        """True once :meth:`request_stop` was called; methods check it between steps."""
        return self.stop_event.is_set()

    def request_stop(self) -> None:
        """Ask the method to end at its next step with a final snapshot."""
        self.stop_event.set()
        self.resume_event.set()

    def pause(self) -> None:
        """Make :meth:`wait_if_paused` block until :meth:`resume` or :meth:`request_stop`."""
        self.resume_event.clear()

    def resume(self) -> None:
        self.resume_event.set()

    @property
    def paused(self) -> bool:
        return not self.resume_event.is_set()

    def wait_if_paused(self) -> None:
        """Block the calling (worker) thread while the run is paused."""
        while not self.resume_event.wait(0.1):
            pass

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A fresh generator seeded from the run's seed (plus ``offset`` for a second stream)."""
        return np.random.default_rng(self.seed + offset)


class Method(Generic[P]):
    """Base of every denoiser.

    Subclasses set ``id``, ``title``, ``family`` and ``Params`` and implement :meth:`run`.
    Size constraints are declared in ``size_requirements`` and satisfied by the caller of
    ``core.tiling``; methods do not check sizes themselves.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    Params: ClassVar[type[Params]]
    description: ClassVar[str] = ""
    iterative: ClassVar[bool] = False
    size_requirements: ClassVar[SizeRequirements] = SizeRequirements()
    # Rough figures for :meth:`estimate_cost`: peak working memory per RGB pixel, and CPU
    # seconds per megapixel (None: unknown) measured on the development CPU.
    working_bytes_per_pixel: ClassVar[float] = 64.0
    seconds_per_megapixel: ClassVar[float | None] = None

    def availability(self) -> str | None:
        """``None`` when the method can run here, else the reason it cannot (shown greyed)."""
        return None

    def default_params(self, noisy: np.ndarray | None = None) -> P:
        """Default parameters; a method may adapt them to the image (for example σ)."""
        return self.Params()  # type: ignore[return-value]

    def starting_params(self, noisy: np.ndarray | None = None, device: str | None = None) -> P:
        """The parameters the window's panel and ``denoise`` start with, for a first try.

        :meth:`default_params` unless a method knows a better first try on ``device`` (``None``:
        the best one present) than its paper's defaults, which stay the ``Params`` defaults
        (Deep Image Prior: a stop rule and an iteration cap fitted to its preset).
        """
        return self.default_params(noisy)

    def run(self, noisy: np.ndarray, params: P, ctx: RunContext) -> Iterator[Snapshot]:
        """Denoise ``noisy`` (H×W×C float32 in [0, 1]); the last snapshot has ``final=True``."""
        raise NotImplementedError

    def check_input(self, shape: tuple[int, ...]) -> None:
        """Refuse, with a :class:`MethodError` the user reads, an image too small to denoise.

        Below ``MIN_SIDE`` pixels (or the method's declared minimum) filters and networks would
        pad by more than the image holds.
        """
        smallest = max(MIN_SIDE, self.size_requirements.minimum)
        if min(int(shape[0]), int(shape[1])) < smallest:
            raise MethodError(f"the image is {shape[1]}×{shape[0]} pixels; {self.title} needs at least {smallest}×{smallest}")

    def repeat_until(self, params: P, iteration: int) -> P | None:
        """Parameters that repeat a run with ``params`` and end it exactly at ``iteration``.

        For iterative methods: "run the whole image with this region result's settings", and
        the replay of a kept time-machine iterate. ``None`` (the default) for one-shot methods.
        """
        return None

    def keep_output(self, params: P, maps: dict[str, np.ndarray], choice: str) -> tuple[np.ndarray, P] | None:
        """The output a stopped run keeps when the user chose ``choice`` of its ``keep`` parameter.

        ``maps`` are the final snapshot's alternative outputs. Returns the image with the
        parameters that say what was kept, or ``None`` when the choice changes nothing. By
        default a choice names a map.
        """
        if not choice or getattr(params, "keep", None) == choice or choice not in maps:
            return None
        return np.clip(maps[choice], 0.0, 1.0).astype(np.float32), params.replace(keep=choice)

    def kept_iteration(self, params: P, info: dict[str, Any], final_step: int | None) -> int | None:
        """The iteration the result of a finished run comes from (``None`` for one-shot methods).

        ``info`` is the final snapshot's ``info``; ``final_step`` the step the run ended at.
        """
        return None

    def threads_asked(self, params: P) -> int | None:
        """CPU threads the run sets for itself with ``params``; ``None`` (the default) when it
        follows the process's setting (torch's and OpenCV's), which ``denoise --jobs`` makes one.
        """
        return None

    def estimate_cost(self, shape: tuple[int, ...], params: P, device: str = "cpu") -> CostEstimate:
        """Peak memory and time of a run on an image of ``shape`` (H, W, C), before it starts.

        The default scales the class's per-pixel figures; the time is given for the CPU only.
        """
        pixels = int(shape[0]) * int(shape[1])
        channels = int(shape[2]) if len(shape) > 2 else 1
        memory = int(pixels * self.working_bytes_per_pixel * max(channels, 1) / 3) + 64 * 2**20
        seconds = None
        if self.seconds_per_megapixel is not None and device == "cpu":
            seconds = self.seconds_per_megapixel * pixels / 1e6
        return CostEstimate(memory, seconds)


def run_to_end(
    method: Method[Any],
    noisy: np.ndarray,
    params: Params | None = None,
    ctx: RunContext | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
) -> Snapshot:
    """Drive a method to its final snapshot and return it (for the CLI, benchmark and tests)."""
    ctx = ctx or RunContext()
    params = params if params is not None else method.default_params(noisy)
    last: Snapshot | None = None
    for snap in method.run(noisy, params, ctx):
        if on_snapshot is not None:
            on_snapshot(snap)
        last = snap
        if snap.final:
            break
    if last is None or not last.final or last.image is None:
        raise MethodError(f"{method.id} ended without a result")
    return last
