"""Problems the launcher explains in one line, with the fix, instead of a traceback."""


class StackError(RuntimeError):
    """A problem with the machine or the settings that the user can fix."""
