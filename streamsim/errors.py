"""The one kind of error the command line shows as a single line instead of a traceback."""


class StreamsimError(RuntimeError):
    """A problem with the machine, the settings or the input that the user can fix.

    Its message names the problem and the fix in one line.
    """
