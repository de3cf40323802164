"""A directory held by one process: ``DIR/.lock``, locked with ``flock`` for as long as the
process runs (the kernel releases it when the process ends, kill -9 included), holding the
holder's process id so that a second process can say who holds it.

Example:

```python
import tempfile

from tfxfer.io.lock import DirectoryLock, LockHeld

lock = DirectoryLock(tempfile.mkdtemp())
try:
    lock.acquire()
except LockHeld as e:
    print(f"already running in {e.directory} (pid {e.pid})")
lock.release()
```
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".lock"


class LockHeld(Exception):
    """Another live process holds the directory."""

    def __init__(self, directory: Path, pid: int | None):
        super().__init__(f"{directory} is held by pid {pid}")
        self.directory, self.pid = directory, pid


class DirectoryLock:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._fd: int | None = None

    def holder(self) -> int | None:
        """The process id written by the holder (or the last holder), if any."""
        try:
            text = (self.directory / LOCK_FILE).read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def held_by(self) -> int | None:
        """The holder's process id while another process holds the directory, else None
        (nothing is created)."""
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self.holder() or 0
        finally:
            os.close(fd)
        return None

    def acquire(self) -> None:
        """Holds the directory until :meth:`release` or the end of the process; raises
        :class:`LockHeld` at once when another process holds it."""
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.directory, self.holder()) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
