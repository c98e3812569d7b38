"""Entry point of the packaged application.

With a sub-command (``denoise, bench, train, ...``) it is the command line; with nothing, or
only an image path, it opens the Studio window.
"""

from __future__ import annotations

import sys


def main() -> int:
    from denoise_studio.cli import SUBCOMMANDS
    from denoise_studio.cli import main as cli_main

    args = sys.argv[1:]
    if args and (args[0] in SUBCOMMANDS or args[0].startswith("-")):
        return cli_main(args)
    return cli_main(["gui", *args])


if __name__ == "__main__":
    raise SystemExit(main())
