"""The one exception the CLI turns into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad usage or unreadable input: the message says what was wrong and what is valid."""
