"""Progress of the long steps that are not training epochs (caching features, scoring,
checking images, exporting): a bar redrawn in place on a terminal; elsewhere (a log file,
CI, a notebook) a line at most every ten seconds, so a log stays readable. Both end with one
line saying what was done and how long it took.

Example:

```python
from tfxfer.io.progress import Progress

with Progress("checking images", total=3, unit="image") as progress:
    for _ in range(3):
        progress.advance(1)
```
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("tfxfer")

_BAR_WIDTH = 24
_LOG_EVERY_SECONDS = 10.0
_REDRAW_EVERY_SECONDS = 0.1


def redraws_in_place(stream=None) -> bool:
    """Whether ``stream`` (default stdout) shows a bar redrawn with carriage returns: a
    terminal or a notebook, not a log file (the test Keras' own progress bar makes)."""
    stream = stream or sys.stdout
    return (hasattr(stream, "isatty") and stream.isatty()) or "ipykernel" in sys.modules


def keras_verbose(verbose):
    """``model.fit``'s ``verbose`` for ``"auto"``: the step bar where it redraws in place, one
    line an epoch elsewhere (in a log file the bar's every redraw would stay)."""
    if verbose != "auto":
        return verbose
    return 1 if redraws_in_place() else 2


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (a notebook's, a test's capture)."""

    terminator = "\n"

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the property always reads sys.stdout
        pass


def stdout_logger(name: str) -> logging.Logger:
    """A logger whose INFO messages are printed as they are, on stdout, and flushed: what a
    command tells its user, which the program that called it can still silence or redirect
    with the logging module (its level, its handlers)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, _CurrentStdout) for h in logger.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # not a second time through the root logger's "INFO tfxfer:" format
    return logger


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


class Progress:
    """Counts ``unit``s of ``what`` up to ``total`` (None: unknown). ``enabled=False`` prints
    nothing at all (``verbose=0``)."""

    def __init__(self, what: str, total: int | None, unit: str, enabled: bool = True, stream=None):
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.stream = stream or sys.stderr
        self.count = 0
        self.status = ""
        self.started = self._drawn = self._logged = time.perf_counter()
        self.interactive = enabled and redraws_in_place(self.stream)

    def __enter__(self) -> Progress:
        self.started = self._drawn = self._logged = time.perf_counter()
        return self

    def advance(self, count: int = 1, status: str = "") -> None:
        """``count`` more done; ``status`` (the latest loss, say) is shown beside the count."""
        self.count += count
        self.status = status or self.status
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.interactive and (now - self._drawn >= _REDRAW_EVERY_SECONDS or self.count == self.total):
            self._drawn = now
            self.stream.write(f"\r{self._line(now)}\x1b[K")
            self.stream.flush()
        elif not self.interactive and now - self._logged >= _LOG_EVERY_SECONDS:
            self._logged = now
            log.info("%s", self._line(now))

    def _line(self, now: float) -> str:
        seconds = now - self.started
        if self.total:
            filled = int(_BAR_WIDTH * min(self.count / self.total, 1.0))
            bar = f" [{'=' * filled}{'.' * (_BAR_WIDTH - filled)}]"
            left = seconds / self.count * (self.total - self.count) if self.count else None
            eta = f", {left:.0f} s left" if left is not None and self.count < self.total else ""
            counted = f"{self.count}/{_plural(self.total, self.unit)}"
        else:
            bar, eta, counted = "", "", _plural(self.count, self.unit)
        status = f"  {self.status}" if self.status else ""
        return f"{self.what}: {counted}{bar} {seconds:.0f} s{eta}{status}"

    def __exit__(self, kind, error, traceback) -> None:
        if not self.enabled:
            return
        if self.interactive:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        if kind is None:
            status = f"; {self.status}" if self.status else ""
            log.info("%s: %s in %.1f s%s", self.what, _plural(self.count, self.unit),
                     time.perf_counter() - self.started, status)
