"""The ``denoise-studio`` command line.

Sub-commands live in modules imported only when used; each defines
``add_arguments(parser)`` and ``run(args) -> int``. User errors print one line on stderr and exit
with code 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name → (module, one-line help). Modules are imported lazily: `denoise-studio methods` must not
# pay for torch or Qt.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("denoise_studio.replay", "reproduce an exported result from its JSON sidecar"),
}


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from denoise_studio.core.image import ImageError
    from denoise_studio.core.method import MethodError
    from denoise_studio.core.params import ParamError
    from denoise_studio.methods import UnknownMethodError

    return (UserError, ImageError, ParamError, MethodError, UnknownMethodError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="denoise-studio", description="An interactive image-denoising workbench.")
    from denoise_studio import __version__

    parser.add_argument("--version", action="version", version=f"denoise-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
        if "--help" in sys.argv or "-h" in sys.argv or name in sys.argv[1:2]:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in SUBCOMMANDS:
        # Only the chosen sub-command's module is imported for its arguments.
        parser = argparse.ArgumentParser(prog="denoise-studio")
        sub = parser.add_subparsers(dest="command")
        module_name, help_text = SUBCOMMANDS[argv[0]]
        sub_parser = sub.add_parser(argv[0], help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module_name)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except _user_error_types() as exc:
        print(f"denoise-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"denoise-studio {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
