"""The flag parser every command uses: a wrong flag or value is one line and exit status 2."""

from __future__ import annotations

import argparse

from tfxfer.cli.exit_status import EXIT_USAGE


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a wrong flag or value ends with one line and status 2, no usage dump,
    and flags are matched exactly (``--epoch`` is a typo, not ``--epochs``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.add_argument("--verbose", action="store_true",
                          help="also show TensorFlow's start-up messages and INFO logs")

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")
