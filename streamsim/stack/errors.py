"""Problems the launcher explains in one line, with the fix, instead of a traceback."""

from streamsim.errors import StreamsimError


class StackError(StreamsimError):
    """A part of the stack could not start or stopped unexpectedly."""
