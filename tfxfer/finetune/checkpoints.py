"""What resuming needs, under ``RUN_DIR/checkpoints/``: weights, optimizer state, and where
the run was (phase, epochs done, history so far), written after every epoch.

Each save goes to a new ``ckpt-N/`` directory, then ``state.json`` is replaced atomically
to point at it, so a kill -9 at any moment leaves the previous complete checkpoint in force.
Only the chief writes; every worker reads (on a cluster the run directory must be on a
filesystem all workers share, as for Keras' own BackupAndRestore).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from tfxfer.io.atomic import replaced_atomically, write_text_atomically

log = logging.getLogger("tfxfer")


@dataclass
class RunState:
    phase: int = 1
    epochs_done: int = 0  # over both phases, as Keras counts epochs
    phase_start: int = 0  # the epoch at which the current phase began
    phase_done: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoint: str = ""

    def finished(self, phase: int) -> bool:
        """Whether ``phase`` ended before (a restarted run skips it)."""
        return self.phase > phase or (self.phase == phase and self.phase_done)

    def begin(self, phase: int) -> bool:
        """Enters ``phase``; True when it continues a phase that had saved epochs."""
        resuming = self.phase == phase and self.epochs_done > self.phase_start
        if not resuming:
            self.phase, self.phase_start = phase, self.epochs_done
        return resuming

    def seconds(self) -> float:
        """Training seconds of the epochs done so far, before a restart too."""
        return (self.history.get("seconds") or [0.0])[-1]


_BASE = "base.weights.h5"


@contextlib.contextmanager
def without_optimizer(model: keras.Model):
    """Detaches the compiled optimizer while the model is saved: the model tracks it, so its
    slot variables (two per trained weight for Adam/AdamW) would double or triple what a
    SavedModel or a ``.weights.h5`` file holds. Checkpoints keep the optimizer apart."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        yield
        return
    del model.optimizer  # AutoTrackable drops the dependency on delete, not on `= None`
    try:
        yield
    finally:
        model.optimizer = optimizer


class Checkpoints:
    """Saves and restores a :class:`RunState` and the model/optimizer it belongs to."""

    def __init__(self, directory: str | Path, writer: bool = True):
        self.directory = Path(directory)
        self.writer = writer

    @property
    def _state_file(self) -> Path:
        return self.directory / "state.json"

    def load(self) -> RunState | None:
        if not self._state_file.exists():
            return None
        state = RunState(**json.loads(self._state_file.read_text()))
        saved = self.directory / state.checkpoint
        if not ((saved / "model.weights.h5").exists()
                or ((saved / "head.npz").exists() and (self.directory / _BASE).exists())):
            return None
        return state

    def save(self, model: keras.Model, state: RunState, optimizer=None, head=None) -> None:
        """Saves ``model``'s weights and ``optimizer``'s state (default: the model's own; the
        head model's while the head trains on cached features).

        ``head``: the only variables that changed since the phase began (a frozen backbone's
        head). Then the whole model is written once (``base.weights.h5``) and each epoch only
        these: for a BERT-base a head epoch saves kilobytes instead of 440 MB.
        """
        if not self.writer:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"ckpt-{state.epochs_done}-p{state.phase}{'-done' if state.phase_done else ''}"
        target = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        base = self.directory / _BASE
        if head is None:
            with without_optimizer(model):
                model.save_weights(tmp / "model.weights.h5")
        else:
            if not base.exists():
                with without_optimizer(model):
                    model.save_weights(self.directory / f".{_BASE}")  # Keras wants the .weights.h5 suffix
                os.replace(self.directory / f".{_BASE}", base)
            np.savez(tmp / "head.npz", *[np.asarray(v.numpy()) for v in head])
        optimizer = optimizer or getattr(model, "optimizer", None)
        if optimizer is not None and optimizer.built:
            np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in optimizer.variables])
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        state.checkpoint = name
        write_text_atomically(self._state_file, json.dumps(asdict(state)))
        for old in self.directory.glob("ckpt-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        if head is None:
            base.unlink(missing_ok=True)

    def resume(self, model: keras.Model, head=None) -> RunState | None:
        """The saved state, its weights loaded into ``model`` (``head`` as for
        :meth:`restore_weights`); None when nothing was saved."""
        state = self.load()
        if state is not None:
            self.restore_weights(model, state, head=head)
            log.info("resuming from %s: phase %d, %d epoch(s) done%s", self.directory, state.phase,
                     state.epochs_done, " (phase finished)" if state.phase_done else "")
        return state

    def restore_weights(self, model: keras.Model, state: RunState, head=None) -> None:
        """Loads the saved weights into ``model``; ``head(model)`` lists the variables a
        head-only checkpoint holds (see :meth:`save`)."""
        saved = self.directory / state.checkpoint
        if (saved / "model.weights.h5").exists():
            model.load_weights(saved / "model.weights.h5")
            return
        model.load_weights(self.directory / _BASE)
        values = np.load(saved / "head.npz")
        for i, variable in enumerate(head(model)):
            variable.assign(values[f"arr_{i}"])

    def restore_optimizer(self, model: keras.Model, state: RunState) -> bool:
        path = self.directory / state.checkpoint / "optimizer.npz"
        if not path.exists():
            return False
        optimizer = model.optimizer
        if not optimizer.built:
            with model.distribute_strategy.scope():
                optimizer.build(model.trainable_variables)
        saved = np.load(path)
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        if len(values) != len(optimizer.variables):
            return False
        for variable, value in zip(optimizer.variables, values, strict=True):
            variable.assign(value)
        return True


def write_history_csv(history: dict[str, list[float]], path: Path) -> None:
    """history.csv, one row an epoch over both phases, replaced atomically."""
    keys = [k for k in history if k != "phase"]
    rows = len(history.get("loss", []))
    with replaced_atomically(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "phase", *keys])
        for i in range(rows):
            writer.writerow([i, history.get("phase", [None] * rows)[i],
                             *[history[k][i] if i < len(history[k]) else "" for k in keys]])


class EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: append the logs and the training seconds so far to the history, save a
    checkpoint of ``model`` (the whole model, also while only its head is being fit), rewrite
    history.csv."""

    def __init__(self, checkpoints: Checkpoints | None, state: RunState, phase: int, history_csv: Path | None,
                 model: keras.Model, clock, head=None):
        super().__init__()
        self.checkpoints, self.state, self.phase, self.history_csv = checkpoints, state, phase, history_csv
        self.whole_model, self.clock, self.head = model, clock, head

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.state.history.setdefault(key, []).append(float(value))
        self.state.history.setdefault("phase", []).append(self.phase)
        self.state.history.setdefault("seconds", []).append(round(self.clock(), 3))
        self.state.phase, self.state.epochs_done, self.state.phase_done = self.phase, epoch + 1, False
        if self.checkpoints is not None:
            self.checkpoints.save(self.whole_model, self.state, self.model.optimizer, self.head)
        if self.history_csv is not None:
            write_history_csv(self.state.history, self.history_csv)
