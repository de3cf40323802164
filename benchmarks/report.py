"""The figures both sides produced -> rows of (figure, reference, tfxfer, tfxfer ÷ reference),
printed as a table and written as benchmarks/RESULTS.md."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MB = 1e6


@dataclass
class Row:
    figure: str
    reference: float | None
    tfxfer: float | None
    unit: str = ""  # "s", "acc", "ex/s", "MB", "ms", "x"
    better: str = ""  # "lower" or "higher"

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0) or self.tfxfer is None:
            return None
        return self.tfxfer / self.reference


@dataclass
class Table:
    title: str
    rows: list[Row]
    notes: list[str]


# ---------------------------------------------------------------------------------------------
# Histories: one row an epoch, {"phase", "seconds", "val_accuracy"}, seconds since training began


def tfxfer_history(run: dict) -> tuple[list[dict], str]:
    """tfxfer's epochs from history.csv (its ``seconds`` column), else from the wrapper's clock."""
    rows = run.get("history") or []
    if rows and all(isinstance(r.get("seconds"), float) for r in rows):
        return [{"phase": int(r["phase"]), "seconds": r["seconds"], "val_accuracy": r.get("val_accuracy")}
                for r in rows], "history.csv seconds"
    return run.get("clock") or [], "epoch clock of benchmarks.tfxfer_cli (history.csv has no seconds column)"


def _durations(history: list[dict]) -> list[tuple[int, float]]:
    """(phase, seconds the epoch took) for every epoch."""
    out, previous = [], 0.0
    for row in history:
        out.append((row["phase"], row["seconds"] - previous))
        previous = row["seconds"]
    return out


def time_to(history: list[dict], target: float) -> float | None:
    for row in history:
        if row["val_accuracy"] is not None and row["val_accuracy"] >= target - 1e-9:
            return row["seconds"]
    return None


def accuracy_at(history: list[dict], seconds: float) -> float | None:
    """The held-out accuracy of the last epoch that had ended by ``seconds``."""
    done = [r for r in history if r["seconds"] <= seconds + 1e-6]
    return done[-1]["val_accuracy"] if done else None


def _best(history: list[dict]) -> float | None:
    scores = [r["val_accuracy"] for r in history if r["val_accuracy"] is not None]
    return max(scores) if scores else None


def _target(given: float | None, *histories) -> float | None:
    if given is not None:
        return given
    bests = [_best(h) for h in histories]
    return min(bests) if bests and None not in bests else None


def _phase_throughput(history: list[dict], phase: int, examples: int | None) -> float | None:
    seconds = [d for p, d in _durations(history) if p == phase]
    return examples * len(seconds) / sum(seconds) if seconds and examples else None


def _get(d, *keys):
    """``d[k1][k2]...``, or None where a key or index is missing."""
    for key in keys:
        if isinstance(d, dict) and key in d:
            d = d[key]
        elif isinstance(d, list) and isinstance(key, int) and -len(d) <= key < len(d):
            d = d[key]
        else:
            return None
    return d


# ---------------------------------------------------------------------------------------------
# Sections


def _training_rows(ref_hist, tfx_hist, target, ref_final, tfx_final) -> list[Row]:
    rows = []
    if target is not None:
        rows.append(Row(f"time to held-out accuracy >= {target:.3f}", time_to(ref_hist, target),
                        time_to(tfx_hist, target), "s", "lower"))
    if ref_hist and tfx_hist:
        equal = min(ref_hist[-1]["seconds"], tfx_hist[-1]["seconds"])
        rows.append(Row(f"held-out accuracy at equal time ({equal:.0f} s of training)", accuracy_at(ref_hist, equal),
                        accuracy_at(tfx_hist, equal), "acc", "higher"))
    rows.append(Row("final held-out accuracy", ref_final, tfx_final, "acc", "higher"))
    rows.append(Row("training seconds, all epochs (incl. held-out scoring)",
                    ref_hist[-1]["seconds"] if ref_hist else None, tfx_hist[-1]["seconds"] if tfx_hist else None,
                    "s", "lower"))
    return rows


def text_table(results: dict, context: dict) -> Table | None:
    ref, tfx, probe = results.get("reference-text"), results.get("tfxfer-text"), results.get("tfxfer-text-probe")
    if "text" not in context["sections"]:
        return None
    ref_hist = (ref or {}).get("history") or []
    tfx_hist, source = tfxfer_history(tfx) if tfx else ([], "")
    target = _target(context["targets"]["text"], ref_hist, tfx_hist)
    tfx_final = _get(tfx, "metrics", "test", "accuracy")
    rows = _training_rows(ref_hist, tfx_hist, target, _get(ref, "final_accuracy"), tfx_final)
    n_train = _get(ref, "num_train") or _get(tfx, "metrics", "num_examples", "train")
    rows.append(Row("full fine-tuning, examples/s over its epochs (incl. held-out scoring, checkpoints)",
                    _phase_throughput(ref_hist, 2, n_train), _phase_throughput(tfx_hist, 2, n_train), "ex/s", "higher"))
    rows.append(Row("full fine-tuning, examples/s of the training step (one in-memory batch)",
                    _get(ref, "steps", "examples_per_second"),
                    _get(probe, "steps", "fine_tune", "examples_per_second"), "ex/s", "higher"))
    s = context["settings"]
    notes = [
        f"Rotten Tomatoes: {n_train} training reviews, {_get(ref, 'num_heldout') or s['text_heldout']} held out "
        f"(the same files for both); {s['sequence_length']} tokens a review on both sides "
        f"(BertTextClassifier.from_preset's own default: {_get(ref, 'default_sequence_length')}).",
        f"reference: BertTextClassifier.from_preset(MiniLM-L6, num_classes=2), compile() defaults "
        f"({_get(ref, 'optimizer')}), fit(x, y, epochs={s['text_epochs']}), float32, pooled [CLS] output.",
        f"tfxfer: {_get(tfx, 'command') or 'python -m tfxfer.train ...'}",
        f"tfxfer epoch times from the {source}; the reference's from a callback at the same moment "
        f"(each epoch's end, after scoring the held-out set).",
    ]
    cached = _get(tfx, "metrics", "cached_features")
    if cached:
        notes.append(f"tfxfer's head epoch trained on cached encoder features (computed in {cached.get('seconds')} s).")
    return Table("text: MiniLM-L6 on Rotten Tomatoes", rows, notes)


def image_table(results: dict, context: dict) -> Table | None:
    ref, tfx = results.get("reference-image"), results.get("tfxfer-image")
    if "image" not in context["sections"]:
        return None
    ref_hist = (ref or {}).get("history") or []
    tfx_hist, source = tfxfer_history(tfx) if tfx else ([], "")
    rows = []
    for phase, label in ((1, "frozen phase"), (2, "fine-tune phase")):
        ref_d = [d for p, d in _durations(ref_hist) if p == phase]
        tfx_d = [d for p, d in _durations(tfx_hist) if p == phase]
        rows.append(Row(f"{label}: first epoch (s)", ref_d[0] if ref_d else None, tfx_d[0] if tfx_d else None,
                        "s", "lower"))
        rows.append(Row(f"{label}: later epochs, median (s)", _median(ref_d[1:]), _median(tfx_d[1:]), "s", "lower"))
    target = _target(context["targets"]["image"], ref_hist, tfx_hist)
    rows += _training_rows(ref_hist, tfx_hist, target, _get(ref, "final_accuracy"),
                           _get(tfx, "metrics", "test", "accuracy"))
    s = context["settings"]
    notes = [
        f"Fashion-MNIST: {s['image_classes']} classes, {_get(ref, 'num_train')} training images (train split), "
        f"{_get(ref, 'num_heldout')} held out (test split), upscaled to {s['image_size']} px; "
        f"EfficientNet-Lite0 ImageNet weights on both sides.",
        f"reference: the TensorFlow transfer-learning tutorial: augmentation, Adam 1e-4 on the frozen base for "
        f"{s['image_frozen_epochs']} epochs, then base.layers[100:] unfrozen "
        f"({_get(ref, 'unfrozen_layers_with_weights')} layers with weights) with RMSprop 1e-5 for "
        f"{s['image_fine_tune_epochs']} epochs; float32.",
        f"tfxfer: {_get(tfx, 'command') or 'python -m tfxfer.train ...'}",
        f"tfxfer epoch times from the {source}.",
    ]
    change = _get(ref, "bn_moving_mean_max_change")
    if change is not None:
        notes.append(f"reference: BatchNorm moving means of the base changed by up to {change:.3g} during fine-tuning "
                     f"(Keras 3 fit ignores base(x, training=False)); tfxfer keeps them fixed.")
    cached = _get(tfx, "metrics", "cached_features")
    if cached:
        notes.append(f"tfxfer's frozen epochs trained the head on cached backbone features "
                     f"(computed in {cached.get('seconds')} s, inside its first epoch's time).")
    return Table("image: EfficientNet-Lite0 on Fashion-MNIST", rows, notes)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _export_rows(ref: dict | None, tfx: dict | None) -> list[Row]:
    def size(d, key):
        value = _get(d, key)
        return value / MB if value is not None else None

    def ratio(d):
        saved, call = _get(d, "saved_model_latency", "p50_ms"), _get(d, "keras_call_latency", "p50_ms")
        return saved / call if saved and call else None

    def bloat(d):
        saved, params = _get(d, "saved_model_bytes"), _get(d, "param_bytes")
        return saved / params if saved and params else None

    rows = [
        Row("SavedModel size on disk (MB)", size(ref, "saved_model_bytes"), size(tfx, "saved_model_bytes"), "MB",
            "lower"),
        Row("parameter bytes (MB)", size(ref, "param_bytes"), size(tfx, "param_bytes"), "MB"),
        Row("SavedModel size / parameter bytes", bloat(ref), bloat(tfx), "x", "lower"),
    ]
    for key, label in (("saved_model_latency", "SavedModel signature"), ("keras_call_latency", "Keras model(x)"),
                       ("keras_predict_latency", "Keras model.predict(x)")):
        for q in ("p50", "p95"):
            if key == "keras_predict_latency" and q == "p95":
                continue
            rows.append(Row(f"batch-1 latency, {label}, {q} (ms)", _get(ref, key, f"{q}_ms"),
                            _get(tfx, key, f"{q}_ms"), "ms", "lower"))
    rows.append(Row("SavedModel p50 / Keras model(x) p50", ratio(ref), ratio(tfx), "x", "lower"))
    return rows


def export_table(results: dict, context: dict) -> Table | None:
    if "export" not in context["sections"]:
        return None
    rows, notes = [], []
    for task in ("text", "image"):
        ref = _get(results.get(f"reference-{task}"), "export")
        tfx = _get(results.get(f"tfxfer-{task}-probe"), "export")
        for row in _export_rows(ref, tfx):
            row.figure = f"{task}: {row.figure}"
            rows.append(row)
        if ref or tfx:
            notes.append(f"{task}: reference = Keras' model.export() of the reference model, input "
                         f"{_get(ref, 'saved_model_input')}; tfxfer = its versioned export, input "
                         f"{_get(tfx, 'saved_model_input')}.")
    notes.append("Latency: one example a call, p50/p95 over repeated calls after warm-up, result read back; "
                 "Keras model(x) is the in-memory model called eagerly (text: the reference runs its preprocessor "
                 "first; images: both decode the PNG first).")
    return Table("export: SavedModel size and batch-1 latency", rows, notes)


def pipeline_table(results: dict, context: dict) -> Table | None:
    if "pipeline" not in context["sections"]:
        return None
    ref, tfx = results.get("reference-image"), results.get("tfxfer-image-probe")

    def passes(d, i):
        return _get(d, "pipeline", i, "examples_per_second")

    def steps(d, phase):
        return _get(d, "steps", phase, "examples_per_second")

    def headroom(d, i, phase):
        p, m = passes(d, i), steps(d, phase)
        return p / m if p and m else None

    s = context["settings"]
    rows = [
        Row("dataset set-up: listing (tfxfer: and test-decoding) files (s)", _get(ref, "dataset_seconds"),
            _get(tfx, "dataset_seconds"), "s", "lower"),
        Row("input pipeline alone, 1st pass (read, decode, resize), examples/s", passes(ref, 0), passes(tfx, 0),
            "ex/s", "higher"),
        Row("input pipeline alone, 2nd pass, examples/s", passes(ref, 1), passes(tfx, 1), "ex/s", "higher"),
        Row("training step, backbone frozen, examples/s", steps(ref, "frozen"), steps(tfx, "frozen"), "ex/s", "higher"),
        Row(f"training step, top {s['image_unfreeze']} layers unfrozen, examples/s", steps(ref, "fine_tune"),
            steps(tfx, "fine_tune"), "ex/s", "higher"),
        Row("frozen backbone forward alone (what feature caching runs once), examples/s", None,
            steps(tfx, "feature_extraction"), "ex/s", "higher"),
        Row("1st-pass pipeline / frozen-step throughput (> 1: not starved)", headroom(ref, 0, "frozen"),
            headroom(tfx, 0, "frozen"), "x", "higher"),
        Row("2nd-pass pipeline / fine-tune-step throughput (> 1: not starved)", headroom(ref, 1, "fine_tune"),
            headroom(tfx, 1, "fine_tune"), "x", "higher"),
    ]
    notes = [f"Fashion-MNIST PNGs at {s['image_size']} px, batch {s['batch_size']}: the reference iterates "
             f"image_dataset_from_directory(...).prefetch(AUTOTUNE) and steps the tutorial's model; tfxfer iterates "
             f"tfxfer.load_image_data(...).train (decoded images cached in memory after the 1st pass) and steps "
             f"the model python -m tfxfer.train builds. Steps run on one in-memory batch, without the pipeline."]
    return Table("pipeline: input pipeline alone vs the training step (images)", rows, notes)


def gpu_lines(results: dict) -> list[str]:
    gpu = results.get("gpu-mfu")
    if gpu is None:
        return ["gpu: not run" if "gpu-mfu" not in results else "gpu: FAILED (see its log)"]
    if gpu.get("skipped"):
        return [f"gpu: skipped - {gpu['skipped']}"]
    mfu = f"{gpu['mfu']:.1%}" if gpu.get("mfu") is not None else "unknown peak (pass --gpu-peak-tflops)"
    return [f"gpu: {gpu['device']}, BERT-base-sized classifier (random weights), {gpu['precision_policy']}, "
            f"batch {gpu['batch_size']} x {gpu['sequence_length']} tokens: "
            f"{gpu['steps']['examples_per_second']:.1f} examples/s, {gpu['achieved_tflops']:.3g} model TFLOP/s, "
            f"MFU {mfu}"]


def tables(results: dict, context: dict) -> list[Table]:
    built = [text_table(results, context), image_table(results, context), export_table(results, context),
             pipeline_table(results, context)]
    return [t for t in built if t is not None]


# ---------------------------------------------------------------------------------------------
# Formatting


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "acc":
        return f"{value:.3f}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("s", "ms", "MB") or value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(row: Row) -> str:
    return "-" if row.ratio is None else f"{row.ratio:.2f}"


def console(tables_: list[Table], results: dict | None = None) -> str:
    lines = []
    for table in tables_:
        width = max(len(r.figure) for r in table.rows) + 2
        lines.append(f"== {table.title} ==")
        lines.append(f"{'figure':<{width}}{'reference':>12}{'tfxfer':>12}{'tfxfer/ref':>12}  better")
        for r in table.rows:
            lines.append(f"{r.figure:<{width}}{_fmt(r.reference, r.unit):>12}{_fmt(r.tfxfer, r.unit):>12}"
                         f"{_ratio(r):>12}  {r.better}")
        lines += [f"  * {note}" for note in table.notes]
        lines.append("")
    if results is not None:
        lines += gpu_lines(results)
    return "\n".join(lines).rstrip()


def _markdown_table(table: Table) -> list[str]:
    lines = [f"### {table.title}", "", "| figure | reference | tfxfer | tfxfer / reference | better |",
             "|---|---:|---:|---:|---|"]
    for r in table.rows:
        lines.append(f"| {r.figure} | {_fmt(r.reference, r.unit)} | {_fmt(r.tfxfer, r.unit)} | {_ratio(r)} "
                     f"| {r.better} |")
    lines.append("")
    lines += [f"- {note}" for note in table.notes]
    lines.append("")
    return lines


def _history_lines(name: str, history: list[dict]) -> list[str]:
    if not history:
        return []
    lines = [f"{name}:", "", "| epoch | phase | seconds at its end | held-out accuracy |", "|---:|---:|---:|---:|"]
    for i, row in enumerate(history, start=1):
        accuracy = "-" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
        lines.append(f"| {i} | {row['phase']} | {row['seconds']:.1f} | {accuracy} |")
    return [*lines, ""]


def _gpu_word(results: dict) -> str:
    gpu = results.get("gpu-mfu")
    if not gpu or gpu.get("skipped") or not gpu.get("gpus"):
        return "no GPU" if gpu and gpu.get("skipped") else "GPU not checked"
    return f"{gpu['gpus']} GPU(s): {gpu['device']}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    repo = Path(__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "tfxfer")
    return f"{commit}{' with uncommitted changes in tfxfer/' if dirty else ''}"


def markdown(tables_: list[Table], results: dict, context: dict) -> str:
    import os

    jobs = context["jobs"]
    other = sum(j["other_cpu_seconds"] for j in jobs)
    by_name: dict[str, float] = {}
    for job in jobs:
        for name, seconds in job.get("other_cpu_by_name", {}).items():
            by_name[name] = by_name.get(name, 0.0) + seconds
    busiest = [f"{name} ({seconds:.0f} CPU-s)" for name, seconds in sorted(by_name.items(), key=lambda x: -x[1])[:5]]
    shared = other > 0.1 * context["elapsed_seconds"]
    lines = [
        "# Benchmark results: tfxfer against the reference recipes",
        "",
        f"- **Date**: {context['started_at']}",
        f"- **Command**: `{context['command']}` (from the repository root); it took "
        f"{context['elapsed_seconds'] / 60:.1f} min",
        f"- **Machine**: {_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} memory; {_gpu_word(results)}",
        f"- **Versions**: Python {platform.python_version()}, TensorFlow {_version('tensorflow')}, "
        f"Keras {_version('keras')}, keras-hub {_version('keras-hub')}, tensorflow-text "
        f"{_version('tensorflow-text')}, tfxfer {_version('tfxfer')} (git {_git()})",
        f"- **Sharing**: load average {context['load_before'][0]:.2f} before, {context['load_after'][0]:.2f} after; "
        f"other processes used {other:.0f} CPU-seconds while the benchmark ran "
        f"({other / max(context['elapsed_seconds'], 1):.2f} cores on average)"
        + (": the machine was shared, so timings are noisier than on an idle machine." if shared else "."),
    ]
    if busiest and shared:
        lines.append(f"  Other processes by command name: {', '.join(busiest)}.")
    if context.get("sharing_note"):  # written by hand when the measured figure above falls short
        lines.append(f"  {context['sharing_note']}")
    lines += [
        "",
        "Each side of each benchmark ran in its own process, one after the other, on the same files. "
        "`tfxfer / reference` below 1 is faster or smaller for time, size and latency rows. "
        "How each figure is measured: benchmarks/README.md.",
        "",
    ]
    for table in tables_:
        lines += _markdown_table(table)
    lines += ["### GPU", "", *gpu_lines(results), ""]
    if _get(results.get("gpu-mfu"), "skipped"):
        lines += ["This machine has no GPU, so the examples/s and model-FLOPs utilisation of the BERT-base-sized "
                  "model were not measured; on a machine where TensorFlow sees a GPU the same command reports them.",
                  ""]
    if context.get("observations"):  # written by hand for a particular run
        lines += ["## Notes on this run", "", *[f"- {note}" for note in context["observations"]], ""]
    lines += ["## Per-epoch histories", ""]
    for task in [t for t in ("text", "image") if t in context["sections"]]:
        ref = results.get(f"reference-{task}") or {}
        tfx = results.get(f"tfxfer-{task}")
        lines += _history_lines(f"{task}, reference", ref.get("history") or [])
        if tfx:
            lines += _history_lines(f"{task}, tfxfer", tfxfer_history(tfx)[0])
    lines += ["## Jobs", "", "| job | exit | wall seconds | other processes' CPU-seconds meanwhile |",
              "|---|---:|---:|---:|"]
    for j in jobs:
        lines.append(f"| {j['job']} | {j['rc']} | {j['wall_seconds']:.0f} | {j['other_cpu_seconds']:.0f} |")
    lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in context["settings"].items()), ""]
    return "\n".join(lines)
