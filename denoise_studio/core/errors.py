"""The one error type that every layer raises for a mistake of the user's.

A :class:`UserError` (or a subclass: a bad image file, a bad parameter, an unknown method, a
sidecar that cannot be replayed) is shown as one line: the command line prints it and exits
with code 2, the window shows it in a message box. Anything else is a bug and keeps its
traceback for ``DENOISE_STUDIO_DEBUG=1``.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for; shown as one line, never as a traceback."""


class ImageError(UserError):
    """An image cannot be read or written; the message is meant for the user."""
