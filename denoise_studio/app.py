"""The ``denoise-studio-gui`` script: the same as ``denoise-studio gui`` (``commands/gui.py``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The ``denoise-studio-gui`` entry point: same options as ``denoise-studio gui``."""
    from denoise_studio.cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    return cli_main(["gui", *args])



if __name__ == "__main__":
    raise SystemExit(main())
