"""How a command ends: a user's mistake is one line on stderr and exit status 2, a lost
worker status 3, a worker's port taken status 4, an interrupt 130; never a traceback for
the first three."""

from __future__ import annotations

import logging
import signal
import sys

from tfxfer.errors import PortTakenError, TfxferError, TrainingInterrupted, WorkerLostError

EXIT_USAGE = 2
EXIT_WORKER_LOST = 3
EXIT_PORT_TAKEN = 4


def run_main(prog: str, main, argv=None) -> int:
    """Runs ``main(argv)``; a TfxferError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(argv) or 0
    except PortTakenError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_PORT_TAKEN
    except TfxferError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except WorkerLostError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_WORKER_LOST
    except KeyboardInterrupt as e:
        _ignore_further_interrupts()
        print(f"{prog}: interrupted{_how_to_continue(prog, e)}", file=sys.stderr)
        return 130


def _ignore_further_interrupts() -> None:
    """The command is already stopping: a second Ctrl-C while TensorFlow shuts down (seconds on
    a busy machine) would kill the process by the signal, losing exit status 130."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the handler alone
        pass


def _how_to_continue(prog: str, interrupt: KeyboardInterrupt) -> str:
    """A training run saves every finished epoch: say which was the last, and how to go on."""
    if prog != "tfxfer.train":
        return ""
    same = "run the same command again (with --output, the same --output)"
    if not isinstance(interrupt, TrainingInterrupted):  # before training, or after it (scores, export)
        return f"; {same} to continue: every finished epoch is saved"
    if not interrupt.saved:
        return f" after epoch {interrupt.epochs_done}, with no checkpoints to continue from"
    if not interrupt.epochs_done:
        return f" before the first epoch finished; {same} to start it again"
    return f" after epoch {interrupt.epochs_done}, which was saved; {same} to continue from there"
