"""The exit codes every command shares, defined once (the CLI's help text lists them)."""

from enum import IntEnum


class ExitCode(IntEnum):
    READY = 0
    """The move is ready."""
    NOT_READY = 1
    """Something blocks the move."""
    USAGE = 2
    """A usage error or unusable input, said in one line before any report exists."""
    INCOMPLETE = 3
    """Facts are missing, so no verdict can be given."""
    INTERNAL = 4
    """A bug in lmpreflight itself."""
    INTERRUPTED = 130
    """Ctrl-C."""

    NOTHING_FOUND = 0
    """diagnose: no failed move in the event logs."""
    FOUND = 1
    """diagnose: failed moves found and explained."""
    EXPLAINED = 0
    """explain: the text was recognised and explained."""
    NOT_RECOGNISED = 1
    """explain: nothing in the text was recognised."""
