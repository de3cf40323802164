"""What the command-line tools share: one-line errors with exit status 2, and logging."""

from __future__ import annotations

import argparse
import logging
import sys

from tfxfer.errors import TfxferError, WorkerLostError

EXIT_USAGE = 2
EXIT_WORKER_LOST = 3


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a wrong flag or value ends with one line and status 2, no usage dump,
    and flags are matched exactly (``--epoch`` is a typo, not ``--epochs``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def run_main(prog: str, main, argv=None) -> int:
    """Runs ``main(argv)``; a TfxferError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(argv) or 0
    except TfxferError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except WorkerLostError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_WORKER_LOST
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
