"""The ``denoise-studio`` command line: it only dispatches.

Each sub-command is a module of :mod:`denoise_studio.commands`, imported only when used, that
defines ``add_arguments(parser)`` and ``run(args) -> int``. A :class:`UserError` (any error
of the user's, see ``core/errors.py``) prints one line on stderr and exits with code 2; it never
shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from denoise_studio.core.errors import UserError

# name → (module of denoise_studio.commands, one-line help). Modules are imported lazily: `denoise-studio methods` must not
# pay for torch or Qt.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "methods": ("methods", "list every method, its family and its parameters"),
    "noise": ("noise", "add seeded synthetic noise to an image"),
    "denoise": ("denoise", "denoise an image with one method and write the result"),
    "bench": ("bench", "benchmark methods on a folder of clean images or noisy/clean pairs"),
    "replay": ("replay", "reproduce an exported result from its JSON sidecar"),
    "generate-noise": ("generate_noise", "new noisy versions of a noisy image by redrawing its InvDN latent"),
    "gui": ("gui", "open the Studio window"),
    "train": ("train", "train a network method and write its weights and model card"),
    "zoo": ("zoo", "the shipped models: list them, train them all in one budget, check their figures"),
    "bench-dip": ("bench_dip", "benchmark Deep Image Prior: speed, stopping rules, fast preset, memory"),
}


def _load_command(module: str) -> Any:
    """The module of :mod:`denoise_studio.commands` that implements a sub-command."""
    return importlib.import_module(f"denoise_studio.commands.{module}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s arguments are loaded (the others stay unimported)."""
    from denoise_studio import __version__

    parser = argparse.ArgumentParser(prog="denoise-studio", description="An interactive image-denoising workbench.")
    parser.add_argument("--version", action="version", version=f"denoise-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (target, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_target=target)
        if name == command:
            _load_command(target).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``denoise-studio`` script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        parser = build_parser(command)
    except ImportError as exc:
        print(f"denoise-studio {command}: error: this command is unavailable ({exc})", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    implementation = _load_command(args._target)
    try:
        code = int(implementation.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except UserError as exc:
        print(f"denoise-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"denoise-studio {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`denoise-studio methods | head`): stop quietly, like other tools.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass  # not a real file: nothing will flush it at exit either
        return 0
    except MemoryError:
        print(f"denoise-studio {args.command}: error: out of memory (try a smaller image or a tiled method)", file=sys.stderr)
        return 1
    except Exception as exc:
        # A bug, not a user error: one line unless the traceback is asked for.
        if os.environ.get("DENOISE_STUDIO_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"denoise-studio {args.command}: internal error: {type(exc).__name__}: {message} "
            "(set DENOISE_STUDIO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
