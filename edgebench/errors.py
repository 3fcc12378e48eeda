"""Errors a user can fix. The CLI prints their message as one line and exits 2."""


class UserError(Exception):
    """Bad input: missing or corrupt file, unknown name, malformed option."""


class TargetUnavailable(Exception):
    """A target cannot run here (runtime not installed, model format unreadable)."""
