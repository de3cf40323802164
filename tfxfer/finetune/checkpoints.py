"""What resuming needs, under ``RUN_DIR/checkpoints/``: weights, optimizer state, and where
the run was (phase, epochs done, history so far), written after every epoch.

Each save goes to a new ``ckpt-N/`` directory (holding a copy of the state it belongs to),
flushed to disk and renamed into place, then ``state.json`` is replaced atomically to point at
it, so a kill -9 or a power loss at any moment leaves the previous complete checkpoint in force;
a damaged ``state.json`` falls back to the newest intact checkpoint. The state records what the
run trains on (class list, data fingerprint) so that a resume onto other data is refused, the
best epoch of the current phase (whose checkpoint is kept, so that restoring the best weights
works across a restart), and the export once it is written (so that a restart does not export
again).
Only the chief writes; every worker reads (on a cluster the run directory must be on a
filesystem all workers share, as for Keras' own BackupAndRestore).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from tfxfer.errors import TfxferError
from tfxfer.io.atomic import rename_durably, replaced_atomically, temporary_sibling, write_text_atomically

log = logging.getLogger("tfxfer")


@dataclass
class RunState:
    phase: int = 1
    epochs_done: int = 0  # over both phases, as Keras counts epochs
    phase_start: int = 0  # the epoch at which the current phase began
    phase_done: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoint: str = ""
    classes: list[str] = field(default_factory=list)  # what the saved head's outputs mean
    data: str = ""  # the training data's fingerprint (tfxfer.finetune.feature_cache.data_fingerprint)
    best_loss: float | None = None  # the current phase's best val loss, its epoch and checkpoint
    best_epoch: int = 0
    best_checkpoint: str = ""
    exported: str = ""  # the export's path, once written

    @classmethod
    def from_json(cls, text: str) -> RunState:
        """Raises ValueError for anything but a whole state (a zero-length or cut-off file)."""
        values = json.loads(text)
        if not isinstance(values, dict) or "checkpoint" not in values:
            raise ValueError("not a run state")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})

    def checkpoint_name(self) -> str:
        """The directory the checkpoint of where the run stands now goes to."""
        return f"ckpt-{self.epochs_done}-p{self.phase}{'-done' if self.phase_done else ''}"

    def finished(self, phase: int) -> bool:
        """Whether ``phase`` ended before (a restarted run skips it)."""
        return self.phase > phase or (self.phase == phase and self.phase_done)

    def begin(self, phase: int) -> bool:
        """Enters ``phase``; True when it continues a phase that had saved epochs."""
        resuming = self.phase == phase and self.epochs_done > self.phase_start
        if not resuming:
            self.phase, self.phase_start = phase, self.epochs_done
            self.best_loss, self.best_epoch, self.best_checkpoint = None, 0, ""
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

    def _intact(self, state: RunState) -> bool:
        saved = self.directory / state.checkpoint
        return bool(state.checkpoint) and ((saved / "model.weights.h5").exists()
                                           or ((saved / "head.npz").exists() and (self.directory / _BASE).exists()))

    def load(self) -> RunState | None:
        """The saved state; None when nothing was saved. A damaged ``state.json`` (a power
        loss can leave it empty or cut off) falls back to the newest intact checkpoint."""
        try:
            text = self._state_file.read_text()
        except FileNotFoundError:
            return None
        try:
            state = RunState.from_json(text)
        except (ValueError, TypeError) as e:
            return self._newest_intact(f"{self._state_file} is damaged ({e})")
        return state if self._intact(state) else None

    def _newest_intact(self, damage: str) -> RunState:
        states = []
        for saved in self.directory.glob("ckpt-*/state.json"):
            try:
                state = RunState.from_json(saved.read_text())
            except (OSError, ValueError, TypeError):
                continue
            if state.checkpoint == saved.parent.name and self._intact(state):
                states.append(state)
        if not states:
            raise TfxferError(f"{damage} and no intact checkpoint is left to continue from: remove "
                              f"{self.directory.parent} (or pass another --output) to start over")
        state = max(states, key=lambda s: (s.epochs_done, s.phase, s.phase_done))
        log.warning("%s: continuing from the newest intact checkpoint, %s", damage, state.checkpoint)
        if self.writer:
            self.write_state(state)
        return state

    def check_data(self, state: RunState, classes: list[str], data: str | None) -> None:
        """Refuses to resume onto other classes or other data than the state was saved for."""
        start_afresh = f"remove {self.directory.parent} (or pass another --output) to start afresh"
        if state.classes and list(state.classes) != list(classes):
            added = [c for c in classes if c not in state.classes]
            removed = [c for c in state.classes if c not in classes]
            change = "; ".join(part for part in (f"added {', '.join(added)}" if added else "",
                                                 f"removed {', '.join(removed)}" if removed else "") if part)
            raise TfxferError(f"the checkpoints in {self.directory} were saved for classes {', '.join(state.classes)}; "
                              f"the data now has {', '.join(classes)} ({change or 'another order'}): {start_afresh}")
        if state.data and data and state.data != data:
            raise TfxferError(f"the training data changed since the checkpoints in {self.directory} were saved "
                              f"(its files, sizes, modification times, texts or labels differ): {start_afresh}")

    def save(self, model: keras.Model, state: RunState, optimizer=None, head=None) -> None:
        """Saves ``model``'s weights and ``optimizer``'s state (default: the model's own; the
        head model's while the head trains on cached features).

        ``head``: the only variables that changed since the phase began (a frozen backbone's
        head). Then the whole model is written once (``base.weights.h5``) and each epoch only
        these: for a BERT-base a head epoch saves kilobytes instead of 440 MB.
        """
        name = state.checkpoint_name()
        if not self.writer:  # the chief writes this very checkpoint: other workers name it alike
            state.checkpoint = name
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        tmp = temporary_sibling(target)  # unique: two writers never rename each other's
        tmp.mkdir()
        base = self.directory / _BASE
        if head is None:
            with without_optimizer(model):
                model.save_weights(tmp / "model.weights.h5")
        else:
            if not base.exists():
                base_tmp = temporary_sibling(base, suffix=".weights.h5")  # Keras wants the suffix
                with without_optimizer(model):
                    model.save_weights(base_tmp)
                rename_durably(base_tmp, base)
            np.savez(tmp / "head.npz", *[np.asarray(v.numpy()) for v in head])
        optimizer = optimizer or getattr(model, "optimizer", None)
        if optimizer is not None and optimizer.built:
            np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in optimizer.variables])
        state.checkpoint = name
        (tmp / "state.json").write_text(json.dumps(asdict(state)))  # what a damaged state.json falls back to
        shutil.rmtree(target, ignore_errors=True)
        rename_durably(tmp, target)
        self.write_state(state)
        for old in self.directory.glob("ckpt-*"):
            if old.name not in (name, state.best_checkpoint):
                shutil.rmtree(old, ignore_errors=True)
        if head is None:
            base.unlink(missing_ok=True)

    def write_state(self, state: RunState) -> None:
        write_text_atomically(self._state_file, json.dumps(asdict(state)))

    def record_export(self, path: str | Path) -> None:
        """Marks the run exported to ``path``: a restart after this skips the export."""
        state = self.load()
        if self.writer and state is not None:
            state.exported = str(path)
            self.write_state(state)
            # and in the checkpoint's own copy, which a damaged state.json falls back to
            write_text_atomically(self.directory / state.checkpoint / "state.json", json.dumps(asdict(state)))

    def resume(self, model: keras.Model, head=None, classes: list[str] | None = None,
               data: str | None = None) -> RunState | None:
        """The saved state, its weights loaded into ``model`` (``head`` as for
        :meth:`restore_weights`); None when nothing was saved. ``classes`` and ``data`` (a
        fingerprint) are checked against what the state was saved for, before any weight loads."""
        state = self.load()
        if state is not None and classes is not None:
            self.check_data(state, classes, data)
        if state is not None:
            self.restore_weights(model, state, head=head)
            log.info("resuming from %s: phase %d, %d epoch(s) done%s", self.directory, state.phase,
                     state.epochs_done, " (phase finished)" if state.phase_done else "")
        return state

    def restore_weights(self, model: keras.Model, state: RunState, head=None, checkpoint: str | None = None) -> None:
        """Loads the saved weights (of ``checkpoint``, default the state's last) into ``model``;
        ``head(model)`` lists the variables a head-only checkpoint holds (see :meth:`save`)."""
        saved = self.directory / (checkpoint or state.checkpoint)
        with warnings.catch_warnings():
            # Weights files hold no optimizer state (that is optimizer.npz): Keras warns, for a
            # compiled model, that it skips loading the optimizer's variables. Expected here.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
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
    """After each epoch: append the logs and the training seconds so far to the history, note
    the phase's best val loss, save a checkpoint of ``model`` (the whole model, also while only
    its head is being fit), rewrite history.csv. With ``patience`` > 0 the phase stops that
    many epochs after its best one, counted across restarts (Keras' EarlyStopping forgets its
    best epoch and weights at every ``fit``, so after a restart it would keep the wrong ones):
    :func:`restore_best` then loads the best epoch's kept checkpoint."""

    def __init__(self, checkpoints: Checkpoints | None, state: RunState, phase: int, history_csv: Path | None,
                 model: keras.Model, clock, head=None, patience: int = 0):
        super().__init__()
        self.checkpoints, self.state, self.phase, self.history_csv = checkpoints, state, phase, history_csv
        self.whole_model, self.clock, self.head, self.patience = model, clock, head, patience

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            self.state.history.setdefault(key, []).append(float(value))
        self.state.history.setdefault("phase", []).append(self.phase)
        self.state.history.setdefault("seconds", []).append(round(self.clock(), 3))
        self.state.phase, self.state.epochs_done, self.state.phase_done = self.phase, epoch + 1, False
        loss = logs.get("val_loss")
        improved = self.patience > 0 and loss is not None and (self.state.best_loss is None
                                                               or float(loss) < self.state.best_loss)
        if improved:
            self.state.best_loss, self.state.best_epoch = float(loss), epoch + 1
        if self.checkpoints is not None:
            if improved:  # this epoch's checkpoint is the one kept as the best
                self.state.best_checkpoint = self.state.checkpoint_name()
            self.checkpoints.save(self.whole_model, self.state, self.model.optimizer, self.head)
        if self.history_csv is not None:
            write_history_csv(self.state.history, self.history_csv)
        if self.patience > 0 and self.state.best_loss is not None \
                and self.state.epochs_done - self.state.best_epoch >= self.patience:
            self.model.stop_training = True


def restore_best(checkpoints: Checkpoints, model: keras.Model, state: RunState, head=None) -> None:
    """At a phase's end: the best epoch's weights back into ``model`` (when a later epoch was
    saved last), and the phase's best forgotten (its checkpoint may depend on the phase's
    head-only base, removed with the next whole-model save)."""
    if state.best_checkpoint and state.best_checkpoint != state.checkpoint:
        checkpoints.restore_weights(model, state, head=head, checkpoint=state.best_checkpoint)
        log.info("restored the weights of epoch %d, the phase's best (val loss %.4f)", state.best_epoch,
                 state.best_loss)
    state.best_checkpoint = ""
