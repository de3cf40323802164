"""The tables of ``python -m benchmarks.defaults``: one per dataset, the summary, the ablations,
the recipe tables tfxfer printed, and the machine and jobs, as Markdown."""

from __future__ import annotations

import os
import platform

from benchmarks.report import _cpu_model, _git, _memory_gib, _version


def _f(value, digits: int = 3) -> str:
    return "failed" if value is None else f"{value:.{digits}f}"


def _s(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(a, b) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}"


def best_reference(rows: list[dict]) -> dict | None:
    """The reference side with the highest held-out accuracy (the first one on a tie)."""
    scored = [r for r in rows if r["group"] != "tfxfer" and r["accuracy"] is not None]
    return max(scored, key=lambda r: r["accuracy"]) if scored else None


def time_to(history: list[dict], target: float | None) -> dict | None:
    """tfxfer's first epoch (history.csv) whose val_accuracy reaches ``target``."""
    for row in history if target is not None else []:
        if isinstance(row.get("val_accuracy"), float) and row["val_accuracy"] >= target - 1e-9:
            return {"seconds": row["seconds"], "epoch": int(row["epoch"]) + 1, "phase": int(row["phase"])}
    return None


def summarize(name: str, task: str, rows: list[dict]) -> dict:
    """tfxfer against the best reference of one dataset, and the ratios the summary shows."""
    tfx = next((r for r in rows if r["group"] == "tfxfer"), None)
    best = best_reference(rows)
    out = {"dataset": name, "task": task, "tfxfer_accuracy": tfx and tfx["accuracy"],
           "best_reference": best and best["side"], "best_reference_accuracy": best and best["accuracy"]}
    if tfx is None or tfx["accuracy"] is None or best is None:
        return out
    out["accuracy_difference"] = round(tfx["accuracy"] - best["accuracy"], 4)
    out["time_to_reference"] = time_to(tfx.get("history") or [], best["accuracy"])
    if task == "text":
        hub = [r for r in rows if r["group"] == "kerashub" and r["accuracy"] is not None]
        if hub:
            best_hub = max(hub, key=lambda r: r["accuracy"])
            ttr = out["time_to_reference"]
            out["kerashub_side"] = best_hub["side"]
            out["time_to_reference_over_kerashub_training"] = (
                round(ttr["seconds"] / best_hub["train_seconds"], 3) if ttr else None)
            out["whole_over_kerashub_script"] = round(tfx["whole_seconds"] / hub[-1]["whole_seconds"], 3)
            out["kerashub_script"] = hub[-1]["side"]
    else:
        tutorial = next((r for r in rows if r["group"] == "tutorial" and r["accuracy"] is not None), None)
        if tutorial:
            out["whole_over_tutorial_script"] = round(tfx["whole_seconds"] / tutorial["whole_seconds"], 3)
    return out


def dataset_table(data: dict, rows: list[dict], summary: dict) -> list[str]:
    best = best_reference(rows)
    lines = [f"### {data['name']} ({data['task']}: {data['describe']})", "",
             "| side | held-out accuracy | training s | whole-run s | tfxfer / best reference: accuracy, "
             "training s, whole-run s |", "|---|---:|---:|---:|---|"]
    for r in rows:
        ratio = ""
        if r["group"] == "tfxfer" and best and r["accuracy"] is not None:
            ratio = " / ".join(_ratio(r[k], best[k]) for k in ("accuracy", "train_seconds", "whole_seconds"))
        mark = " (best reference)" if r is best else ""
        lines.append(f"| {r['side']}{mark} | {_f(r['accuracy'])} | {_s(r['train_seconds'])} | "
                     f"{_s(r['whole_seconds'])} | {ratio} |")
    lines.append("")
    if best and "time_to_reference" in summary:
        ttr = summary["time_to_reference"]
        reached = (f"{ttr['seconds']:.1f} s (epoch {ttr['epoch']}, phase {ttr['phase']})" if ttr
                   else "never reached")
        lines += [f"tfxfer time to reference accuracy (on tfxfer's own val split) >= {best['accuracy']:.3f} "
                  f"({best['side']}): {reached}.", ""]
    lines += [f"- {r['side']}: {r['note']}" for r in rows if r.get("note")]
    return lines + [""]


def summary_table(summaries: list[dict]) -> list[str]:
    lines = ["| dataset | tfxfer zero flags | best reference | its accuracy | tfxfer - best reference |",
             "|---|---:|---|---:|---:|"]
    differences = []
    for s in summaries:
        diff = s.get("accuracy_difference")
        if diff is not None:
            differences.append(diff)
        lines.append(f"| {s['dataset']} | {_f(s['tfxfer_accuracy'])} | {s['best_reference'] or '-'} | "
                     f"{_f(s['best_reference_accuracy'])} | {'-' if diff is None else f'{diff:+.3f}'} |")
    if differences:
        lines.append(f"| **average** | | | | **{sum(differences) / len(differences):+.3f}** |")
    lines.append("")
    for s in summaries:
        if "whole_over_kerashub_script" in s:
            ttr = s["time_to_reference_over_kerashub_training"]
            lines.append(f"- {s['dataset']}: tfxfer time to reference accuracy / {s['kerashub_side']} training "
                         f"seconds = {'never reached' if ttr is None else f'{ttr:.2f}'}; tfxfer whole run / "
                         f"{s['kerashub_script']} whole script = {s['whole_over_kerashub_script']:.2f}")
        if "whole_over_tutorial_script" in s:
            lines.append(f"- {s['dataset']}: tfxfer whole run / TF tutorial (as written) whole script = "
                         f"{s['whole_over_tutorial_script']:.2f}")
    return lines + [""]


def ablation_table(ablations: list[dict]) -> list[str]:
    lines = ["| dataset | flags (one change) | held-out accuracy | minus zero flags | training s |",
             "|---|---|---:|---:|---:|"]
    for a in ablations:
        diff = "-" if a["accuracy"] is None or a["base_accuracy"] is None else f"{a['accuracy'] - a['base_accuracy']:+.3f}"
        lines.append(f"| {a['dataset']} | {a['flags'] or '(zero flags)'} | {_f(a['accuracy'])} | {diff} | "
                     f"{_s(a['train_seconds'])} |")
    return lines + [""]


def context_lines(context: dict) -> list[str]:
    jobs = context["jobs"]
    other = sum(j["other_cpu_seconds"] for j in jobs)
    lines = [
        f"- **Date**: {context['started_at']}; took {context['elapsed_seconds'] / 60:.1f} min",
        f"- **Command**: `{context['command']}` (from the repository root)",
        f"- **Machine**: {_cpu_model()}, nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), "
        f"{_memory_gib()} memory",
        f"- **Versions**: Python {platform.python_version()}, TensorFlow {_version('tensorflow')}, Keras "
        f"{_version('keras')}, keras-hub {_version('keras-hub')}, scikit-learn {_version('scikit-learn')}, "
        f"tfxfer {_version('tfxfer')} (git {_git()})",
        f"- **Sharing**: other processes used {other:.0f} CPU-seconds while the jobs ran "
        f"({other / max(context['elapsed_seconds'], 1):.2f} cores on average); per job below",
        "", "| job | exit | wall s | other processes' CPU-s |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {j['job']} | {j['rc']} | {j['wall_seconds']:.1f} | {j['other_cpu_seconds']:.0f} |" for j in jobs]
    return lines + [""]


def markdown(datasets: list[dict], summaries: list[dict], ablations: list[dict], recipes: dict,
             context: dict) -> str:
    lines = ["# tfxfer's zero-flag defaults against what a user could otherwise run", ""]
    if context["quick"]:
        lines += ["**Quick mode**: tiny data and few epochs, a smoke test; the figures mean nothing.", ""]
    lines += ["## Summary", "", *summary_table(summaries), "## Per dataset", ""]
    for data in datasets:
        lines += dataset_table(data, data["rows"], next(s for s in summaries if s["dataset"] == data["name"]))
    if ablations:
        lines += ["## Ablations: tfxfer with one setting changed by a flag", "", *ablation_table(ablations)]
    if recipes:
        lines += ["## The recipe tables tfxfer printed", ""]
        for name, table in recipes.items():
            lines += [f"{name}:", "", "```", table or "(not found in the log)", "```", ""]
    lines += ["## Machine and jobs", "", *context_lines(context)]
    return "\n".join(lines)
