"""How a command ends: its exit statuses, and the error that means it was called wrongly."""

EXIT_PASSED, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how `grade` was called: one line on stderr, exit 2."""
