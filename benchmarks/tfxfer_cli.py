"""``python -m benchmarks.tfxfer_cli CLOCK_JSON -- TRAIN_FLAGS...``: exactly ``python -m
tfxfer.train TRAIN_FLAGS...``, plus an epoch clock of its own.

tfxfer's history.csv has a ``seconds`` column (training seconds at each epoch's end), which
the benchmark reads. This wrapper also passes one callback to ``tfxfer.fine_tune`` (its public
``callbacks=`` argument) that writes the same figure to CLOCK_JSON, so that a tfxfer without
that column is still timed per epoch. The clock starts when ``fine_tune`` is entered, as
tfxfer's own does; the callback only reads the time.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: python -m benchmarks.tfxfer_cli CLOCK_JSON -- TRAIN_FLAGS...", file=sys.stderr)
        return 2
    clock_file, flags = Path(argv[0]), argv[2:]

    import tfxfer.run
    import tfxfer.train
    from benchmarks.measure import EpochClock
    from tfxfer.cli.exit_status import run_main

    rows: list = []
    original = getattr(tfxfer.run, "fine_tune", None)

    def timed_fine_tune(*args, **kwargs):
        started = time.perf_counter()

        class PhaseClock(EpochClock):  # tfxfer fits once per phase: frozen, then fine-tuning
            def on_train_begin(self, logs=None):
                self.phase = rows[-1]["phase"] + 1 if rows else 1

        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), PhaseClock(started, rows=rows)]
        try:
            return original(*args, **kwargs)
        finally:
            clock_file.write_text(json.dumps(rows, indent=1))

    if original is not None:
        tfxfer.run.fine_tune = timed_fine_tune
    return run_main("tfxfer.train", tfxfer.train.main, flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
