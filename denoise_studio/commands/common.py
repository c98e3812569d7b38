"""Helpers that every sub-command shares: argument parsing, output checks, progress, cost."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from denoise_studio.core.errors import UserError


def parse_key_values(pairs: Sequence[str] | None, option: str = "-p") -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed item is a :class:`UserError`."""
    out: dict[str, str] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


def check_output_path(output: str | os.PathLike[str], *protected: str | os.PathLike[str] | None) -> Path:
    """Fail early, before any computation, for an output that cannot be written.

    Checks the format, that the folder exists and is writable, and that the target is not one of
    ``protected`` (the input, the reference).
    """
    from denoise_studio.core.image import WRITE_FORMATS, _same_file, resolve_source

    target = Path(os.fspath(output))
    if target.suffix.lower() not in WRITE_FORMATS:
        raise UserError(f"{target}: cannot write {target.suffix or 'a file without extension'}; use one of {', '.join(WRITE_FORMATS)}")
    for position, other in enumerate(protected):
        if other is None:
            continue
        try:
            source = resolve_source(other)
        except Exception:  # noqa: BLE001 - an unknown sample or a bad path: the load reports it
            continue
        if _same_file(target, source):
            which = "the input image" if position == 0 else "an input file (the reference)"
            raise UserError(f"{target}: refusing to overwrite {which}; choose another output name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{target}: the folder {folder} is not writable")
    if target.is_dir():
        raise UserError(f"{target}: is a folder")
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text output atomically; a failure is a :class:`UserError`."""
    from denoise_studio.core.image import write_text_atomically

    try:
        return write_text_atomically(path, text)
    except OSError as exc:
        raise UserError(str(exc)) from None


def jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars → Python, NaN/inf → None)."""
    from denoise_studio.core.sidecar import _jsonable

    return _jsonable(value)


def check_text_output(path: str, *protected: str | None) -> Path:
    """Like :func:`check_output_path` for a text output (CSV, JSON, Markdown)."""
    from denoise_studio.core.image import _same_file, resolve_source

    target = Path(path)
    for other in protected:
        if other is None:
            continue
        try:
            if _same_file(target, resolve_source(other)):
                raise UserError(f"{target}: refusing to overwrite an input or output image")
        except UserError:
            raise
        except Exception:  # noqa: BLE001 - an unknown sample or a bad path: the load reports it
            continue
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{target}: the folder {folder} is not writable")
    return target


def check_cost(method: Any, shape: tuple[int, ...], params: Any, device: str) -> None:
    """Refuse a run that cannot fit in memory; warn on stderr about a large or long one."""
    from denoise_studio.core.cost import assess
    from denoise_studio.core.device import DeviceError, resolve_device

    try:
        device = resolve_device(device)
    except DeviceError:
        return  # the run itself says what is wrong with the device
    verdict = assess(method, shape, params, device)
    if verdict.level == "refuse":
        raise UserError(verdict.message)
    if verdict.level == "warn":
        print(f"warning: {verdict.message}", file=sys.stderr)


def shape_text(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]}×{shape[2]}"


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, else sparse lines)."""

    def __init__(self, enabled: bool = True, label: str = "", stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._last_fraction = -1.0
        self._drawn = False

    def update(self, done: int, total: int, note: str = "") -> None:
        """Report ``done`` of ``total``; draws at most ~10 times a second (every 10 % off a terminal)."""
        if not self.enabled or total <= 0:
            return
        fraction = min(max(done / total, 0.0), 1.0)
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw < 0.1 and done < total:
                return
        elif fraction - self._last_fraction < 0.1 and done < total:
            return
        self._last_draw, self._last_fraction = now, fraction
        elapsed = now - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        width = 24
        filled = int(round(fraction * width))
        bar = "#" * filled + "." * (width - filled)
        text = f"{self.label} [{bar}] {done}/{total} {clock(elapsed)} elapsed, {clock(eta)} left {note}".rstrip()
        if self.tty:
            self.stream.write("\r" + text[:160].ljust(80))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
