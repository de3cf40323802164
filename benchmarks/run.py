"""``python -m benchmarks.run``: tfxfer against the reference recipes, side by side.

Each side of each benchmark runs in its own subprocess, one after the other, on the same
fixed data; this process only prepares the data, starts them, reads what they wrote and
prints the table (and, for a full run, writes benchmarks/RESULTS.md). See benchmarks/README.md.

Example:

    python -m benchmarks.run --quick                  # smoke run, 3-6 minutes on 2 cores
    python -m benchmarks.run                          # the full run, about 20 minutes on 2 cores
    python -m benchmarks.run --only text,export
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import report
from benchmarks.data import image_folders, text_split

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("text", "image", "export", "pipeline", "gpu")


@dataclass(frozen=True)
class Settings:
    """Data sizes and epochs; the full run takes about 20 minutes on 2 CPU cores."""

    text_train: int = 2000
    text_heldout: int = 500
    sequence_length: int = 64
    text_head_epochs: int = 1  # tfxfer phase 1 (the head on the frozen encoder)
    text_epochs: int = 2  # full fine-tuning: the reference's fit epochs, tfxfer's phase 2
    image_classes: int = 5
    image_train_per_class: int = 200
    image_heldout_per_class: int = 100
    image_size: int = 128
    image_frozen_epochs: int = 5
    image_fine_tune_epochs: int = 5
    image_unfreeze: int = 36  # the weighted layers of EfficientNet-Lite0's layers[100:]
    batch_size: int = 32
    warmup_steps: int = 2
    measure_steps: int = 8
    latency_calls: int = 50  # model.predict: measure.PREDICT_CALLS (it costs up to a second a call)
    seed: int = 42


FULL = Settings()
QUICK = Settings(text_train=96, text_heldout=64, text_epochs=1, image_classes=3, image_train_per_class=32,
                 image_heldout_per_class=16, image_size=96, image_frozen_epochs=1, image_fine_tune_epochs=1,
                 warmup_steps=1, measure_steps=3, latency_calls=10)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", allow_abbrev=False,
                                description="tfxfer against the reference recipes, side by side "
                                            "(see benchmarks/README.md).")
    p.add_argument("--quick", action="store_true", help="small data and one epoch a phase: a smoke run")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections among {', '.join(SECTIONS)} (default all; gpu runs only "
                        f"where TensorFlow sees a GPU)")
    p.add_argument("--text-target", type=float, help="held-out accuracy target for text (default: the lower "
                                                     "of the two sides' best held-out accuracy)")
    p.add_argument("--image-target", type=float, help="the same for images")
    p.add_argument("--results", help="write the Markdown report here (default: benchmarks/RESULTS.md for a full "
                                     "run of every section, none otherwise)")
    p.add_argument("--work-dir", help="where runs, exports and logs go (default .cache/benchmarks/runs/TIMESTAMP)")
    p.add_argument("--gpu-peak-tflops", type=float, help="the GPU's peak dense bf16 TFLOP/s, when the built-in "
                                                          "table does not know it")
    p.add_argument("--force-mfu", action="store_true", help=argparse.SUPPRESS)  # the MFU code path on a CPU
    return p


class Runner:
    """Starts the jobs one at a time, logs their output, and records each job's wall time and
    the CPU time other processes on the machine used meanwhile."""

    def __init__(self, work: Path):
        self.work = work
        self.log: list[dict] = []
        self.env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
                    "PYTHONUNBUFFERED": "1",
                    "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def command(self, name: str, cmd: list[str]) -> dict:
        log_file = self.work / "logs" / f"{name}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        started = time.perf_counter()
        with open(log_file, "w") as log, CpuWatch() as watch:
            log.write(" ".join(cmd) + "\n\n")
            log.flush()
            rc = subprocess.run(cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - started
        others = watch.summary()
        entry = {"job": name, "rc": rc, "wall_seconds": round(wall, 1), "log": str(log_file), **others}
        self.log.append(entry)
        shared = (f"; other processes used {others['other_cpu_seconds']:.0f} CPU-s"
                  if others["other_cpu_seconds"] >= 1 else "")
        print(f"[{time.strftime('%H:%M:%S')}] {name} {'done' if rc == 0 else f'FAILED (exit {rc})'} in {wall:.0f}s"
              f"{shared}", flush=True)
        if rc != 0:
            tail = log_file.read_text(errors="replace").splitlines()[-15:]
            print("  " + "\n  ".join(tail), flush=True)
        return entry

    def worker(self, job: str, spec: dict) -> dict | None:
        spec_file = self.work / "specs" / f"{job}.json"
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(json.dumps(spec, indent=1, default=str))
        result_file = self.work / "results" / f"{job}.json"
        result_file.parent.mkdir(parents=True, exist_ok=True)
        entry = self.command(job, [sys.executable, "-m", "benchmarks.worker", job, str(spec_file), str(result_file)])
        if entry["rc"] != 0 or not result_file.exists():
            return None
        result = json.loads(result_file.read_text())
        result["process_seconds"] = entry["wall_seconds"]
        return result

    def tfxfer_train(self, name: str, flags: list[str]) -> dict | None:
        """``python -m tfxfer.train FLAGS`` (through benchmarks.tfxfer_cli, which adds an epoch
        clock); returns its metrics.json, history and the command a user would type."""
        clock = self.work / "results" / f"{name}-clock.json"
        clock.parent.mkdir(parents=True, exist_ok=True)
        entry = self.command(name, [sys.executable, "-m", "benchmarks.tfxfer_cli", str(clock), "--", *flags])
        output = Path(flags[flags.index("--output") + 1])
        if entry["rc"] != 0 or not (output / "metrics.json").exists():
            return None
        with open(output / "history.csv", newline="") as f:
            history = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
        return {
            "metrics": json.loads((output / "metrics.json").read_text()),
            "history": history,
            "clock": json.loads(clock.read_text()) if clock.exists() else [],
            "command": "python -m tfxfer.train " + " ".join(_relative(a) for a in flags),
            "process_seconds": entry["wall_seconds"],
        }


def _number(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _relative(arg: str) -> str:
    """Paths inside the repository as a user in its root would type them."""
    for prefix in ("kerashub:", ""):
        if arg.startswith(prefix) and arg[len(prefix):].startswith(str(REPO) + os.sep):
            return prefix + os.path.relpath(arg[len(prefix):], REPO)
    return arg


class CpuWatch:
    """CPU seconds used by processes other than this one and its children while a job runs.

    Every process's user+system time is sampled every ``interval`` seconds, so processes that
    start during the job count too; one that starts and ends between two samples is missed.
    """

    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self.used: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._first = _cpu_ticks()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        last = self._first
        while True:
            stopping = self._stop.wait(self.interval)
            now = _cpu_ticks()
            self._add(last, now)
            last = now
            if stopping:
                return

    def _add(self, last: dict, now: dict) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        parents = {pid: ppid for pid, (_, _, ppid) in now.items()}
        for pid, (ticks, name, _) in now.items():
            if _descends_from(pid, os.getpid(), parents):
                continue
            # A process absent from the previous sample started since: all its time counts.
            before = last[pid][0] if pid in last else (0 if pid not in self._first else ticks)
            self.used[pid] = self.used.get(pid, 0.0) + max(ticks - before, 0) / hz
            self.names[pid] = name

    def summary(self) -> dict:
        by_name: dict[str, float] = {}
        for pid, seconds in self.used.items():
            by_name[self.names[pid]] = by_name.get(self.names[pid], 0.0) + seconds
        return {"other_cpu_seconds": round(sum(self.used.values()), 1),
                "other_cpu_by_name": {name: round(s, 1) for name, s in by_name.items() if s >= 1.0}}


def _descends_from(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    for _ in range(64):
        if pid == ancestor:
            return True
        pid = parents.get(pid, 0)
        if pid <= 1:
            return False
    return False


def _cpu_ticks() -> dict[int, tuple[int, str, int]]:
    """{pid: (user+system clock ticks so far, command name, parent pid)} of every process."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[int(entry)] = (int(fields[11]) + int(fields[12]), name, int(fields[1]))
    return ticks


def _text_flags(s: Settings, minilm: Path, train_csv: Path, heldout_csv: Path, work: Path, full: bool) -> list[str]:
    """The quickstart's product defaults (mean pooling, bfloat16, a head epoch, then the whole
    encoder, no early stopping), at the benchmark's sequence length and epochs."""
    epochs = (s.text_head_epochs, s.text_epochs) if full else (1, 0)
    flags = ["--task", "text", "--backbone", f"kerashub:{minilm}", "--train", str(train_csv),
             "--val", str(heldout_csv), "--test", str(heldout_csv), "--sequence-length", str(s.sequence_length),
             "--pooling", "mean", "--mixed-precision", "--epochs", str(epochs[0]),
             "--fine-tune-epochs", str(epochs[1]), "--unfreeze", "all", "--early-stopping-patience", "0",
             "--batch-size", str(s.batch_size), "--seed", str(s.seed),
             "--output", str(work / "runs" / "text"), "--export-dir", str(work / "saved_models"), "--name", "text"]
    if not full:  # an export to measure, nothing more
        flags += ["--max-train-examples", "64"]
    return flags


def _image_flags(s: Settings, backbone: Path, train_dir: Path, heldout_dir: Path, work: Path, full: bool) -> list[str]:
    """tfxfer's defaults (Adam 1e-3 on the frozen backbone, 1e-5 fine-tuning, cached
    features, float32) with the tutorial's epochs and unfrozen depth; no early stopping, since
    the held-out set is the validation set here."""
    epochs = (s.image_frozen_epochs, s.image_fine_tune_epochs) if full else (1, 0)
    return ["--task", "image", "--backbone", f"kerashub:{backbone}", "--train", str(train_dir),
            "--val", str(heldout_dir), "--test", str(heldout_dir), "--image-size", str(s.image_size),
            "--epochs", str(epochs[0]), "--fine-tune-epochs", str(epochs[1]), "--unfreeze", str(s.image_unfreeze),
            "--early-stopping-patience", "0", "--batch-size", str(s.batch_size), "--seed", str(s.seed),
            "--output", str(work / "runs" / "image"), "--export-dir", str(work / "saved_models"), "--name", "image"]


def run(args) -> int:
    from tfxfer.data import demo

    settings = QUICK if args.quick else FULL
    sections = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"python -m benchmarks.run: error: unknown section(s) {', '.join(unknown)}; "
              f"choose among {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    default_work = demo.cache_dir() / "benchmarks" / "runs" / f"{stamp}-{'quick' if args.quick else 'full'}"
    work = Path(args.work_dir) if args.work_dir else default_work
    work.mkdir(parents=True, exist_ok=True)
    started, started_at = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = os.getloadavg()
    runner = Runner(work)
    results: dict = {}
    common = {"batch_size": settings.batch_size, "seed": settings.seed, "warmup_steps": settings.warmup_steps,
              "measure_steps": settings.measure_steps, "latency_calls": settings.latency_calls, "work_dir": str(work)}
    print(f"benchmark work directory: {work}", flush=True)

    if {"text", "export"} & set(sections):
        minilm = demo.minilm_dir()
        train_csv, heldout_csv = text_split(settings.text_train, settings.text_heldout, settings.seed)
        text_spec = {**common, "minilm_dir": str(minilm), "train_csv": str(train_csv), "heldout_csv": str(heldout_csv),
                     "sequence_length": settings.sequence_length}
        results["reference-text"] = runner.worker("reference-text", {
            **text_spec, "epochs": settings.text_epochs, "train": "text" in sections, "steps": "text" in sections,
            "export": "export" in sections})
        results["tfxfer-text"] = runner.tfxfer_train(
            "tfxfer-text", _text_flags(settings, minilm, train_csv, heldout_csv, work, "text" in sections))
        export_path = (results["tfxfer-text"] or {}).get("metrics", {}).get("export_path")
        results["tfxfer-text-probe"] = runner.worker("tfxfer-text-probe", {
            **text_spec, "pooling": "mean", "mixed_precision": True, "steps": "text" in sections,
            "export_path": export_path if "export" in sections else None})

    if {"image", "export", "pipeline"} & set(sections):
        backbone = demo.efficientnet_lite0_dir()
        train_dir, heldout_dir = image_folders(settings.image_classes, settings.image_train_per_class,
                                               settings.image_heldout_per_class, settings.seed)
        image_spec = {**common, "backbone_dir": str(backbone), "train_dir": str(train_dir),
                      "heldout_dir": str(heldout_dir), "image_size": settings.image_size,
                      "unfreeze": settings.image_unfreeze}
        results["reference-image"] = runner.worker("reference-image", {
            **image_spec, "initial_epochs": settings.image_frozen_epochs,
            "fine_tune_epochs": settings.image_fine_tune_epochs, "base_learning_rate": 1e-4,
            "train": "image" in sections, "pipeline": "pipeline" in sections, "export": "export" in sections})
        export_path = None
        if {"image", "export"} & set(sections):
            results["tfxfer-image"] = runner.tfxfer_train(
                "tfxfer-image", _image_flags(settings, backbone, train_dir, heldout_dir, work, "image" in sections))
            export_path = (results["tfxfer-image"] or {}).get("metrics", {}).get("export_path")
        if {"pipeline", "export"} & set(sections):
            results["tfxfer-image-probe"] = runner.worker("tfxfer-image-probe", {
                **image_spec, "pipeline": "pipeline" in sections,
                "export_path": export_path if "export" in sections else None})

    if "gpu" in sections:
        results["gpu-mfu"] = runner.worker("gpu-mfu", {"force": args.force_mfu, "peak_tflops": args.gpu_peak_tflops})

    elapsed = time.perf_counter() - started
    context = {
        "settings": dataclasses.asdict(settings), "quick": args.quick, "sections": sections,
        "command": "python -m benchmarks.run" + "".join(f" {a}" for a in sys.argv[1:]),
        "started_at": started_at, "elapsed_seconds": round(elapsed, 1), "work_dir": str(work),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "jobs": runner.log, "targets": {"text": args.text_target, "image": args.image_target},
    }
    (work / "results.json").write_text(json.dumps({"context": context, "results": results}, indent=1, default=str))
    tables = report.tables(results, context)
    print()
    print(report.console(tables, results))
    print(f"\ntook {elapsed / 60:.1f} min; raw results in {work / 'results.json'}")
    destination = args.results or (REPO / "benchmarks" / "RESULTS.md"
                                   if not args.quick and set(sections) == set(SECTIONS) else None)
    if destination:
        Path(destination).write_text(report.markdown(tables, results, context))
        print(f"wrote {destination}")
    return 0 if all(entry["rc"] == 0 for entry in runner.log) else 1


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
