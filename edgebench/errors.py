"""Errors a user can fix. The CLI prints their message as one line and exits 2."""


class UserError(Exception):
    """Bad input: missing or corrupt file, unknown name, malformed option.

    The message speaks the library's terms. `setting` names the input at fault as the library
    calls it (a field such as RunConfig's "power_w"), so that a front end can add its own name for
    it: the CLI adds the flag (`--power-w`)."""

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


class TargetUnavailable(Exception):
    """A target cannot run here (runtime not installed, model format unreadable)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that a run ends in a final state either way."""

    def __init__(self, signum: int):
        import signal

        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def printable(text: str) -> str:
    """Text safe to print and store: control characters (from a model's tensor names, say) shown
    as their escapes, so a name cannot move the cursor or clear a user's terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
