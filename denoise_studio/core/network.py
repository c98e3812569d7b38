"""The contract between a trainable network method and the shared machinery.

Each network method module (``methods/invdn.py``, ``methods/ap_bsn.py``, ...) defines one
:class:`NetworkSpec` subclass and exposes an instance as the module attribute ``NETWORK``. The
training loop (``denoise_studio.training``), the weights store (``core/weights.py``) and the
shared inference wrapper (``methods/_common/network.py``) need nothing else from it: how to
build the network for a configuration, how to train it, and how to run it on a batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from denoise_studio.core.tiling import SizeRequirements

if TYPE_CHECKING:
    import torch
    from torch import nn

SUPERVISED = "supervised"
SELF_SUPERVISED = "self-supervised"


@dataclass(frozen=True)
class TrainRecipe:
    """Optimisation settings of one configuration, with the source of every number.

    ``steps`` is the paper's iteration count for ``paper`` configurations; ``milestones`` are
    fractions of ``steps`` at which a ``multistep`` schedule multiplies the rate by ``gamma``.
    ``sigma`` is the training noise range on the 0–255 scale (equal ends: one fixed level).
    """

    supervision: str
    patch_size: int
    batch_size: int
    steps: int
    learning_rate: float
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "multistep"
    milestones: tuple[float, ...] = ()
    gamma: float = 0.5
    min_learning_rate: float = 0.0
    grad_clip: float | None = None
    ema_decay: float | None = None
    noise: str = "gaussian"
    sigma: tuple[float, float] = (25.0, 25.0)
    validate_every: int = 500
    source: str = ""

    def __post_init__(self) -> None:
        if self.supervision not in (SUPERVISED, SELF_SUPERVISED):
            raise ValueError(f"supervision must be {SUPERVISED!r} or {SELF_SUPERVISED!r}")
        if self.schedule not in ("multistep", "cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class NetworkSpec(ABC):
    """How to build, train and run one network method.

    Subclasses set ``method_id`` (the registry id) and implement the abstract methods.
    ``configs`` names the configurations; every spec has at least ``lite`` (sized for a CPU)
    and ``paper`` (the published configuration).
    """

    method_id: ClassVar[str]
    configs: ClassVar[tuple[str, ...]] = ("lite", "paper")
    size_requirements: ClassVar[SizeRequirements] = SizeRequirements()

    @abstractmethod
    def build(self, config: str, channels: int = 3) -> nn.Module:
        """A freshly initialised network of the named configuration."""

    @abstractmethod
    def recipe(self, config: str) -> TrainRecipe:
        """The training recipe of the named configuration."""

    @abstractmethod
    def training_loss(
        self,
        net: nn.Module,
        noisy: torch.Tensor,
        clean: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one batch (N×C×H×W in [0, 1]) and named parts of it for the log.

        The parts are detached 0-d tensors: the trainer reads them on the host only when it
        reports, so that an accelerator is not made to wait for the host every step.

        ``clean`` is ``None`` for self-supervised training: such a loss must never see it.
        """

    def denoise(self, net: nn.Module, noisy: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoise a batch in eval mode; the default calls the network once.

        Sizes already satisfy ``size_requirements`` (the caller pads). Stochastic methods use
        ``generator`` for their randomness so that a seed reproduces the result.
        """
        return net(noisy)

    def check_config(self, config: str) -> None:
        """Raise ``ValueError`` for an unknown configuration name."""
        if config not in self.configs:
            raise ValueError(f"{self.method_id}: unknown configuration {config!r}; choose {', '.join(self.configs)}")
