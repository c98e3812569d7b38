"""Device choice, out-of-memory detection and seeded generators."""

from __future__ import annotations

import pytest
import torch

from denoise_studio.core.device import (
    DeviceError,
    available_devices,
    available_memory,
    best_device,
    is_out_of_memory,
    make_generator,
    resolve_device,
)


def test_auto_prefers_cuda_then_mps_then_cpu() -> None:
    devices = available_devices()
    assert devices[-1] == "cpu"
    expected = "cuda" if torch.cuda.is_available() else ("mps" if "mps" in devices else "cpu")
    assert best_device() == expected == resolve_device("auto") == resolve_device(None)


def test_explicit_devices() -> None:
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("quantum")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_missing_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_available_memory_is_positive() -> None:
    assert available_memory("cpu") > 0


def test_generators_are_seeded() -> None:
    a = torch.rand(5, generator=make_generator("cpu", 3))
    b = torch.rand(5, generator=make_generator("cpu", 3))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.rand(5, generator=make_generator("cpu", 4)))
