"""The flag parser every command uses: a wrong flag or value is one line and exit status 2."""

from __future__ import annotations

import argparse
import difflib
import re

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
        self.exit(EXIT_USAGE, f"{self.prog}: error: {self._with_suggestions(message)} (see --help)\n")

    def _with_suggestions(self, message: str) -> str:
        """``unrecognized arguments: --fine-tune-epocs 2`` -> ``unknown flag --fine-tune-epocs;
        did you mean --fine-tune-epochs?`` for each unknown flag close to a real one."""
        if not message.startswith("unrecognized arguments:"):
            return message
        flags = [option for action in self._actions for option in action.option_strings]
        unknown = [word for word in message.split(":", 1)[1].split() if re.match(r"--?[A-Za-z]", word)]
        parts = []
        for word in unknown:
            flag = word.split("=", 1)[0]
            close = difflib.get_close_matches(flag, flags, n=1, cutoff=0.75)
            parts.append(f"unknown flag {flag}" + (f"; did you mean {close[0]}?" if close else ""))
        return "; ".join(parts) if parts else message
