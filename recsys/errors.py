"""Error types the command line and the app turn into a clear message (never a traceback)."""


class RecsysError(ValueError):
    """Base class: bad input or a damaged file, with a message that says which and why."""
