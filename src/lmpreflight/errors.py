"""Errors that end a command with exit code 2 and one line for the user, never a traceback."""


class UserError(Exception):
    """A mistake in the user's input or environment. ``str(error)`` is the whole message:
    it names what is wrong and how to fix it."""
