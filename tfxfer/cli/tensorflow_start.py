"""Importing TensorFlow for a command without the start-up banners that read like failures."""

from __future__ import annotations

import logging
import os
import sys
import tempfile


def start_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow, without its start-up banners unless ``verbose``.

    Importing it prints "oneDNN custom operations are on", "Could not find cuda drivers" and
    absl's "log messages before absl::InitializeLog()" notice, twice, and looking for devices
    "failed call to cuInit", from C++ straight to file descriptor 2, where neither TF_CPP_MIN_LOG_LEVEL nor Python's logging reaches: they read
    like failures on a machine that works. They are caught during the import and shown only
    if the import fails. Python-side INFO chatter (absl's renamed-input notes on export,
    "Assets written to") is turned down to warnings.
    """
    if not verbose:
        # C++ messages after start-up, such as "oneDNN supports DT_INT64 only on platforms with
        # AVX-512. Falling back ..." (logged as an error on every text run on CPUs without
        # it), unless the user set a level. Real failures still reach Python as exceptions.
        import tfxfer

        if not tfxfer.TF_LOG_LEVEL_CHOSEN:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
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
