"""The package's own error types. The CLI prints these (and ValueError, FileNotFoundError and
PermissionError raised for user input) as one line; any other exception is a bug and keeps its traceback."""


class UserError(Exception):
    """A problem the user can fix (the message says how); base of the package's own errors."""
