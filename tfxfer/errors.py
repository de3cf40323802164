"""The one exception type for mistakes a user can make."""


class TfxferError(Exception):
    """A problem with user input: a path, a flag, a file's contents, a backbone name.

    The message names what is wrong and what would be accepted. The CLI prints it
    alone, as one line, and exits with status 2.
    """


class WorkerLostError(Exception):
    """A multi-worker run stopped because another worker died or became unreachable.

    Not the user's input: the CLI prints it as one line and exits with status 3, and the
    same command on every worker continues from the last saved epoch.
    """


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C while :func:`tfxfer.fine_tune` trained: how far it got, and whether that was saved."""

    def __init__(self, epochs_done: int, saved: bool):
        super().__init__(epochs_done, saved)
        self.epochs_done, self.saved = epochs_done, saved


class PortTakenError(TfxferError):
    """A multi-worker process could not listen on the port TF_CONFIG gives it: another process
    holds it. The CLI exits with its own status (4) so that ``python -m tfxfer.launch``, which
    picked the port, can start the workers again on new ones."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's first non-empty line, at most ``limit`` characters (its type's name when
    it has no message): what a one-line error message quotes of the cause."""
    text = str(getattr(error, "message", None) or error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."
