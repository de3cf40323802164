"""``python -m benchmarks.defaults``: tfxfer with zero tuning flags (its recipe decides every
setting from the data) against what a user could otherwise run, on the same files.

Datasets: rt3000 and trec500 (text, MiniLM-L6), fmnist400, fmnist2000 and lfw200 (images,
EfficientNet-Lite0). Sides: tfxfer zero flags; KerasHub's own classifier with its defaults; the
TensorFlow transfer-learning tutorial (images: as written, and with its BatchNorm fixed);
frozen features + logistic regression; TF-IDF + logistic regression (text). Each side runs in a
subprocess of its own, one after the other (benchmarks.run.Runner); the reference sides are
the jobs of benchmarks/defaults_jobs.py. Results go to WORK/results.json and WORK/defaults.md.
See benchmarks/README.md.

Example:

    python -m benchmarks.defaults --quick                # smoke test, tiny data
    python -m benchmarks.defaults                        # the full run, with ablations
    python -m benchmarks.defaults --only trec500,fmnist400 --no-ablations
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import defaults_report as report
from benchmarks.data import image_folders, text_split
from benchmarks.run import Runner, _number, _relative
from benchmarks.splits import csv_split, folder_split

DATASETS = {"rt3000": "text", "trec500": "text", "fmnist400": "image", "fmnist2000": "image", "lfw200": "image"}
# The full run: a text set >= 2,000 examples, one <= 500 with 6 classes, two image sets.
# fmnist2000 (about an hour more on 2 cores, most of it the tutorial's 20 uncached epochs) on request.
DEFAULT_DATASETS = ("rt3000", "trec500", "fmnist400", "lfw200")
# One flag changed at a time, on one text and one image dataset (and LLRD on both text sets).
ABLATIONS = {
    "trec500": (("--pooling", "cls"), ("--no-mixed-precision",), ("--epochs", "100"), ("--fine-tune-epochs", "0"),
                ("--layer-decay", "0.8")),
    "rt3000": (("--layer-decay", "0.8"),),  # layer-wise rate decay: on both text sets, its effect is small
    "fmnist400": (("--fine-tune-epochs", "0"), ("--mixed-precision",)),
}


@dataclass(frozen=True)
class Settings:
    """Data sizes (per dataset) and the references' epochs."""

    rt: tuple[int, int] = (3000, 2000)  # train, held-out
    trec: tuple[int, int] = (500, 1000)
    fmnist_small: tuple[int, int] = (40, 100)  # per class, 10 classes
    fmnist_large: tuple[int, int] = (200, 100)
    lfw: tuple[int, int] = (120, 80)
    data_seed: int = 0
    train_seed: int = 42  # the references' seed; tfxfer's default
    image_size: int = 224  # EfficientNet-Lite0's own
    feature_sequence_length: int = 128  # the frozen-MiniLM side
    kerashub_text_epochs: int = 2
    tutorial_epochs: tuple[int, int] = (10, 10)  # initial, fine-tune
    base_learning_rate: float = 1e-4
    kerashub_image_epochs: int = 5
    tfxfer_extra: tuple = ()  # quick mode only: a few epochs, so the smoke test ends in minutes


FULL = Settings()
QUICK = Settings(rt=(200, 200), trec=(200, 200), fmnist_small=(10, 10), fmnist_large=(20, 10), lfw=(40, 40),
                 kerashub_text_epochs=1, tutorial_epochs=(1, 1), kerashub_image_epochs=1,
                 tfxfer_extra=(("--epochs", "2"), ("--fine-tune-epochs", "1")))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.defaults", allow_abbrev=False,
                                description="tfxfer's zero-flag defaults against the alternatives "
                                            "(see benchmarks/README.md).")
    p.add_argument("--quick", action="store_true", help="tiny data, few epochs: a smoke test")
    p.add_argument("--only", default=",".join(DEFAULT_DATASETS),
                   help=f"comma-separated datasets among {', '.join(DATASETS)}, or text / image "
                        f"(default {', '.join(DEFAULT_DATASETS)})")
    p.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=None,
                   help="tfxfer with one setting changed, on trec500 and fmnist400 (default: on, off with --quick)")
    p.add_argument("--work-dir", help="runs, exports, logs and results (default .cache/benchmarks/defaults/TIMESTAMP)")
    p.add_argument("--reuse", action="store_true",
                   help="with --work-dir of an earlier run: keep the jobs that finished there (their results and "
                        "times) and run only the others")
    return p


# ---------------------------------------------------------------------------------------------
# Data


def prepare(name: str, s: Settings) -> dict:
    """The dataset's train and held-out files, written once into the cache."""
    from benchmarks import datasets
    from tfxfer.data import demo

    if name == "rt3000":
        train, heldout = text_split(*s.rt, s.data_seed)
    elif name == "trec500":
        train, heldout = csv_split(datasets.trec_questions_csv(), "trec", *s.trec, s.data_seed)
    elif name == "fmnist400":
        train, heldout = image_folders(10, *s.fmnist_small, s.data_seed)
    elif name == "fmnist2000":
        train, heldout = image_folders(10, *s.fmnist_large, s.data_seed)
    else:
        train, heldout = folder_split(datasets.lfw_face_folders(), "lfw_faces", *s.lfw, s.data_seed)
    task = DATASETS[name]
    if task == "text":
        counts = [sum(datasets.read_labels(p).values()) for p in (train, heldout)]
        classes = len(datasets.read_labels(train))
        backbone = demo.minilm_dir()
    else:
        counts = [sum(1 for p in Path(d).glob("*/*") if p.is_file()) for d in (train, heldout)]
        classes = sum(1 for p in Path(train).iterdir() if p.is_dir())
        backbone = demo.efficientnet_lite0_dir()
    return {"name": name, "task": task, "train": str(train), "heldout": str(heldout), "backbone": str(backbone),
            "describe": f"{counts[0]} train, {counts[1]} held-out, {classes} classes"}


# ---------------------------------------------------------------------------------------------
# Running one side


def _side(side: str, group: str, accuracy, train_seconds, whole_seconds, result: dict | None, note: str = "",
          **extra) -> dict:
    return {"side": side, "group": group, "accuracy": accuracy, "train_seconds": train_seconds,
            "whole_seconds": whole_seconds, "note": note,
            "other_cpu_seconds": (result or {}).get("other_cpu_seconds"), **extra}


class ReusingRunner(Runner):
    """A Runner that records each finished job in WORK/entries/ and, with ``reuse``, does not run
    again a job that finished before (an interrupted benchmark goes on where it stopped)."""

    def __init__(self, work: Path, reuse: bool):
        super().__init__(work)
        self.reuse = reuse

    def command(self, name: str, cmd: list[str]) -> dict:
        saved = self.work / "entries" / f"{name}.json"
        if self.reuse and saved.exists():
            entry = json.loads(saved.read_text())
            if entry["rc"] == 0:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: reused ({entry['wall_seconds']:.0f}s)", flush=True)
                self.log.append(entry)
                return entry
        entry = super().command(name, cmd)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(entry, indent=1))
        return entry


def _slug(flags: tuple) -> str:
    return re.sub(r"[^a-z0-9]+", "-", " ".join(flags).lower()).strip("-")


def tfxfer_run(runner: Runner, data: dict, work: Path, s: Settings, flags: tuple = ()) -> dict:
    """``python -m tfxfer.train --backbone kerashub:DIR --train TRAIN --test HELDOUT --output RUN
    --export-dir EXPORTS --name NAME`` (the task is inferred from the data), plus
    ``flags`` (an ablation) and, in quick mode, a few epochs. Held-out accuracy is metrics.json
    ``test.accuracy``, training seconds ``train_seconds``, whole-run seconds the process's wall
    time (loading, training, scoring, exporting)."""
    name = data["name"] + (f"-{_slug(flags)}" if flags else "")
    given = {flags[0]} if flags else set()
    extra = [x for pair in s.tfxfer_extra if pair[0] not in given for x in pair]
    output = work / "runs" / name
    args = ["--backbone", f"kerashub:{data['backbone']}",
            "--train", data["train"], "--test", data["heldout"], "--output", str(output),
            "--export-dir", str(work / "saved_models"), "--name", name, *extra, *flags]
    entry = runner.command(f"tfxfer-{name}", [sys.executable, "-m", "tfxfer.train", *args])
    command = "python -m tfxfer.train " + " ".join(_relative(a) for a in args)
    if entry["rc"] != 0 or not (output / "metrics.json").exists():
        return _side("tfxfer, zero flags", "tfxfer", None, None, None, entry, command=command)
    metrics = json.loads((output / "metrics.json").read_text())
    with open(output / "history.csv", newline="") as f:
        history = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    epochs = metrics.get("epochs", {})
    return _side("tfxfer, zero flags", "tfxfer", metrics["test"]["accuracy"], metrics["train_seconds"],
                 entry["wall_seconds"], entry, f"{epochs.get('phase1')} head + {epochs.get('phase2')} fine-tuning "
                 f"epochs run; whole-run s includes the export; `{command}`", command=command, history=history,
                 recipe_table=_recipe_table(Path(entry["log"]).read_text(errors="replace")),
                 recipe=metrics.get("recipe"))


def _recipe_table(log: str) -> str | None:
    """The table tfxfer prints at its start: the line "recipe auto: ..." and its indented rows."""
    lines = log.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("recipe auto:")), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return "\n".join(lines[start:end])


def job(runner: Runner, name: str, job_name: str, spec: dict) -> dict | None:
    """``python -m benchmarks.defaults_jobs JOB SPEC RESULT``; its result, with the process's
    wall time and the CPU-seconds other processes used meanwhile; None if it failed."""
    spec_file, result_file = runner.work / "specs" / f"{name}.json", runner.work / "results" / f"{name}.json"
    for path in (spec_file, result_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec, indent=1))
    entry = runner.command(name, [sys.executable, "-m", "benchmarks.defaults_jobs", job_name, str(spec_file),
                                  str(result_file)])
    if entry["rc"] != 0 or not result_file.exists():
        return None
    return {**json.loads(result_file.read_text()), "process_seconds": entry["wall_seconds"],
            "other_cpu_seconds": entry["other_cpu_seconds"]}


def _after_epoch(result: dict, k: int) -> float:
    """Whole-script seconds of a run that stops after epoch ``k`` and scores the held-out set
    once: the process's wall time less the epochs after ``k`` and the other epochs' scoring."""
    rows = result["history"]
    other_scoring = sum(r["scoring_seconds"] for r in rows) - rows[k - 1]["scoring_seconds"]
    later = rows[-1]["seconds"] - rows[k - 1]["seconds"]
    return round(result["process_seconds"] - other_scoring - later, 1)


def epoch_side(side: str, group: str, result: dict | None, k: int | None = None, note: str = "") -> dict:
    """A reference that trains epochs, stopped after epoch ``k`` (default: its last)."""
    if result is None:
        return _side(side, group, None, None, None, None)
    k = k or len(result["history"])
    row = result["history"][k - 1]
    return _side(side, group, row["accuracy"], row["seconds"], _after_epoch(result, k), result, note,
                 history=result["history"])


def single_side(side: str, group: str, result: dict | None, note: str = "") -> dict:
    if result is None:
        return _side(side, group, None, None, None, None)
    return _side(side, group, result["accuracy"], result["train_seconds"], result["process_seconds"], result, note)


# ---------------------------------------------------------------------------------------------
# The sides of a dataset


def text_sides(runner: Runner, data: dict, work: Path, s: Settings) -> list[dict]:
    name = data["name"]
    spec = {"train_csv": data["train"], "heldout_csv": data["heldout"], "minilm_dir": data["backbone"],
            "seed": s.train_seed}
    rows = [tfxfer_run(runner, data, work, s)]
    hub = job(runner, f"{name}-kerashub", "kerashub-text", {**spec, "epochs": s.kerashub_text_epochs})
    for k in range(1, s.kerashub_text_epochs + 1):
        note = (f"BertTextClassifier, default compile() ({hub['optimizer']}), default sequence length "
                f"{hub['sequence_length']}, batch 32" if hub else "")
        rows.append(epoch_side(f"KerasHub {k} epoch{'s' if k > 1 else ''}", "kerashub", hub, k, note))
    tfidf = job(runner, f"{name}-tfidf", "tfidf", spec)
    rows.append(single_side("TF-IDF + logistic regression", "tfidf", tfidf,
                            tfidf and f"word 1-2 grams, sublinear tf; C = {tfidf['C']:g} by 5-fold CV"))
    features = job(runner, f"{name}-features", "text-features",
                   {**spec, "sequence_length": s.feature_sequence_length})
    rows.append(single_side("MiniLM features (masked mean) + logistic regression", "features", features,
                            features and f"{s.feature_sequence_length} tokens, standardized, C = "
                                         f"{features['C']:g} by 5-fold CV; features "
                                         f"{features['feature_seconds']:.1f} s of the training s"))
    return rows


def image_sides(runner: Runner, data: dict, work: Path, s: Settings) -> list[dict]:
    name = data["name"]
    spec = {"train_dir": data["train"], "heldout_dir": data["heldout"], "backbone_dir": data["backbone"],
            "image_size": s.image_size, "seed": s.train_seed}
    rows = [tfxfer_run(runner, data, work, s)]
    tutorial = {**spec, "initial_epochs": s.tutorial_epochs[0], "fine_tune_epochs": s.tutorial_epochs[1],
                "base_learning_rate": s.base_learning_rate}
    epochs = f"{s.tutorial_epochs[0]} + {s.tutorial_epochs[1]} epochs, {s.image_size} px, batch 32"
    for label, group, freeze in (("TF tutorial as written", "tutorial", False),
                                 ("TF tutorial, BatchNorm frozen", "tutorial-bn", True)):
        result = job(runner, f"{name}-{group}", "tutorial", {**tutorial, "freeze_bn": freeze})
        note = result and (f"{epochs}; BatchNorm moving means moved by up to "
                           f"{result['bn_moving_mean_max_change']:.3g} while fine-tuning")
        rows.append(epoch_side(label, group, result, note=note))
    features = job(runner, f"{name}-features", "image-features", spec)
    rows.append(single_side("Lite0 features + logistic regression", "features", features,
                            features and f"{s.image_size} px, average pooled, standardized, C = "
                                         f"{features['C']:g} by 5-fold CV"))
    hub = job(runner, f"{name}-kerashub", "kerashub-image", {**spec, "epochs": s.kerashub_image_epochs})
    n = s.kerashub_image_epochs
    rows.append(epoch_side(f"KerasHub ImageClassifier {n} epoch{'s' if n > 1 else ''}", "kerashub", hub,
                           note=hub and f"default compile() ({hub['optimizer']}), the whole model trains; "
                                        f"held-out accuracy by epoch "
                                        f"{', '.join(str(r['accuracy']) for r in hub['history'])}"))
    return rows


def ablations(runner: Runner, data: dict, work: Path, s: Settings, base: dict) -> list[dict]:
    """tfxfer with one flag added, next to its zero-flag run."""
    out = [{"dataset": data["name"], "flags": "", "accuracy": base["accuracy"], "base_accuracy": base["accuracy"],
            "train_seconds": base["train_seconds"]}]
    for flags in ABLATIONS[data["name"]]:
        run = tfxfer_run(runner, data, work, s, flags)
        out.append({"dataset": data["name"], "flags": " ".join(flags), "accuracy": run["accuracy"],
                    "base_accuracy": base["accuracy"], "train_seconds": run["train_seconds"]})
    return out


# ---------------------------------------------------------------------------------------------


def _selected(only: str) -> list[str]:
    names = []
    for item in (x.strip() for x in only.split(",") if x.strip()):
        names += [n for n, task in DATASETS.items() if task == item] if item in ("text", "image") else [item]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        print(f"python -m benchmarks.defaults: error: unknown dataset(s) {', '.join(unknown)}; "
              f"choose among {', '.join(DATASETS)}, text, image", file=sys.stderr)
        raise SystemExit(2)
    return [n for n in DATASETS if n in names]


def run(args) -> int:
    from tfxfer.data import demo

    s = QUICK if args.quick else FULL
    names = _selected(args.only)
    with_ablations = (not args.quick) if args.ablations is None else args.ablations
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = Path(args.work_dir or demo.cache_dir() / "benchmarks" / "defaults" /
                f"{stamp}-{'quick' if args.quick else 'full'}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {work}", flush=True)
    started, started_at = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    runner = ReusingRunner(work, args.reuse)
    datasets, summaries, ablation_rows, recipes = [], [], [], {}
    for name in names:
        data = prepare(name, s)
        rows = (text_sides if data["task"] == "text" else image_sides)(runner, data, work, s)
        datasets.append({**data, "rows": rows})
        summaries.append(report.summarize(name, data["task"], rows))
        if not any(n for n in recipes if DATASETS[n] == data["task"]):
            recipes[name] = rows[0].get("recipe_table")
        if with_ablations and name in ABLATIONS:
            ablation_rows += ablations(runner, data, work, s, rows[0])

    context = {"quick": args.quick, "settings": dataclasses.asdict(s), "datasets": names,
               "ablations": with_ablations, "started_at": started_at, "work_dir": str(work),
               "elapsed_seconds": round(time.perf_counter() - started, 1), "jobs": runner.log,
               "command": "python -m benchmarks.defaults" + "".join(f" {a}" for a in sys.argv[1:])}
    (work / "results.json").write_text(json.dumps({"context": context, "datasets": datasets,
                                                   "summary": summaries, "ablations": ablation_rows,
                                                   "recipes": recipes}, indent=1, default=str))
    text = report.markdown(datasets, summaries, ablation_rows, recipes, context)
    (work / "defaults.md").write_text(text + "\n")
    print("\n" + text)
    print(f"\nwrote {work / 'defaults.md'} and {work / 'results.json'}")
    return 0 if all(entry["rc"] == 0 for entry in runner.log) else 1


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
