"""What the command-line tools share: one-line errors with exit status 2, and logging."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

from tfxfer.errors import TfxferError, WorkerLostError

EXIT_USAGE = 2
EXIT_WORKER_LOST = 3


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


def start_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow, without its start-up banners unless ``verbose``.

    Importing it prints "oneDNN custom operations are on", "Could not find cuda drivers" and
    absl's "log messages before absl::InitializeLog()" notice, twice, and looking for devices
    "failed call to cuInit", from C++ straight to file descriptor 2, where neither TF_CPP_MIN_LOG_LEVEL nor Python's logging reaches: they read
    like failures on a machine that works. They are caught during the import and shown only
    if the import fails. Python-side INFO chatter (absl's renamed-input notes on export,
    "Assets written to") is turned down to warnings.
    """
    if not verbose and "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                import tensorflow

                tensorflow.config.list_physical_devices()  # "failed call to cuInit" comes here
            except BaseException:
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    if not verbose:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.WARNING)


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
