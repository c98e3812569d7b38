"""Fixtures of the method tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


def _with_torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test: on the shared 2-core CPU two threads are many times slower."""
    yield from _with_torch_threads(1)


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    """Two torch threads, the application's default on a 2-core machine (the tests run on one)."""
    yield from _with_torch_threads(2)
