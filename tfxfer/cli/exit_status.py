"""How a command ends: a user's mistake is one line on stderr and exit status 2, a lost
worker status 3, a worker's port taken status 4, an interrupt 130; never a traceback for
the first three."""

from __future__ import annotations

import logging
import sys

from tfxfer.errors import PortTakenError, TfxferError, WorkerLostError

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
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{_how_to_continue(prog)}", file=sys.stderr)
        return 130


def _how_to_continue(prog: str) -> str:
    """A training run saves every finished epoch: say so, and how to go on from it."""
    if prog != "tfxfer.train":
        return ""
    return ("; every finished epoch was saved: run the same command again to continue from the last one "
            "(with --output, the same --output)")
