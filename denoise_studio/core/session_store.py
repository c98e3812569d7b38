"""A folder that keeps the window's session on disk, so a crash loses nothing.

Layout: ``session.json`` (the manifest: the input, the results with their parameters and
metrics, and whether the window was closed normally) beside one ``.npy`` file per image. An
image is written once, when it is first stored; the manifest is rewritten atomically after every
change and names the images it uses; images it no longer names are deleted after it is written.

Writes happen in one background thread, in the order they were asked for, so the caller (the
window's event loop) never waits on the disk; :meth:`SessionStore.flush` waits for them (on
close and in tests). A manifest that cannot be read (a crash mid-write of an older version, a
hand edit) is reported as no session, never as an error.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "session.json"
VERSION = 1


class SessionStore:
    """The session folder ``folder`` (created on first write)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-store")
        self._pending: list[Future[Any]] = []
        self.last_error: str | None = None  # the last write that failed (full disk, no permission)

    # ---------------------------------------------------------------------------- writing

    def new_image_name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}.npy"

    def store_image(self, name: str, image: np.ndarray) -> str:
        """Queue ``image`` to be written as ``name`` (a name from :meth:`new_image_name`)."""
        self._submit(self._write_array, name, np.asarray(image))
        return name

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Queue the manifest (after the images queued before it), then delete unnamed images."""
        record = dict(manifest, version=VERSION, saved=time.time())
        self._submit(self._write_manifest, json.loads(json.dumps(record, default=_jsonable)))

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every queued write has been done."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result(timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._executor.shutdown(wait=True)

    def _submit(self, fn: Any, *args: Any) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._guarded, fn, *args))

    def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except OSError as exc:
            # A session that cannot be saved must not stop the user's work; the window shows it.
            self.last_error = f"cannot save the session in {self.folder}: {exc.strerror or exc}"

    def _write_array(self, name: str, image: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        if target.exists():
            return
        tmp = target.with_name(target.name + ".part")
        with open(tmp, "wb") as f:
            np.save(f, image, allow_pickle=False)
        os.replace(tmp, target)

    def _write_manifest(self, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / MANIFEST
        tmp = target.with_name(MANIFEST + ".part")
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, target)
        self.last_error = None
        used = set(_image_names(record))
        for path in self.folder.glob("*.npy"):
            if path.name not in used:
                path.unlink(missing_ok=True)

    # ---------------------------------------------------------------------------- reading

    def read_manifest(self) -> dict[str, Any] | None:
        """The saved manifest, or None when there is none or it cannot be read."""
        try:
            record = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("version") != VERSION:
            return None
        return record

    def load_image(self, name: str) -> np.ndarray:
        """An image of the session; ``OSError``/``ValueError`` when it is missing or damaged."""
        if Path(name).name != name:
            raise ValueError(f"bad image name in the session: {name!r}")
        return np.load(self.folder / name, allow_pickle=False)

    def set_aside(self) -> Path | None:
        """Move the saved session to ``<folder>.previous`` (replacing an older one) and start empty.

        Used when the user declines to restore: the declined session stays on disk once more.
        """
        self.flush()
        if not (self.folder / MANIFEST).exists():
            return None
        previous = self.folder.with_name(self.folder.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(self.folder, previous)
        return previous


def _image_names(record: dict[str, Any]) -> list[str]:
    names: list[str] = []
    source = record.get("input") or {}
    for key in ("noisy", "reference"):
        if source.get(key):
            names.append(source[key])
    for entry in record.get("results", []):
        if entry.get("image"):
            names.append(entry["image"])
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return None  # anything else (arrays, objects) is not part of the manifest
