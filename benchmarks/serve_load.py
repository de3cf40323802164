"""Load test of ``python -m tfxfer.serve``: N concurrent clients (locust, headless) for a fixed
time against an image and a text export, with batching and without (``--max-batch-size 1``),
and the same SavedModel called in-process as the ceiling.

```bash
pip install -c constraints.txt -e ".[bench]"     # locust
python -m benchmarks.serve_load                  # 8 clients, 60 s a run: about 6 min on 2 cores
python -m benchmarks.serve_load --users 16 --seconds 120 --results serve.md
```

The exports are real backbones with an untrained head (a forward pass costs the same whatever
the head learned): EfficientNet-Lite0 (``../shared/assets``, ImageNet weights) at 224 px for
``photos``, MiniLM-L6 (the quickstart's checkpoint) with 128 tokens for ``reviews``. Each
request holds one example: a 224 x 224 JPEG, or a 20-word review. For every run it records the
throughput, the p50/p95/p99 latency and the failures locust saw, and the server's resident
memory every 2 s (from 10 s in, when the model has seen every batch size, to the end: growth
there would be a leak), and the CPU-seconds the server, locust and all other processes used. The in-process ceiling
calls the ``serving_default`` signature in a fresh process: the best throughput of batches of
1, 8 and ``--max-batch-size`` examples, and the latency of single examples. The server, locust and the ceiling share
the machine's cores one after the other, never at the same time; locust itself takes CPU from
the server while it runs (on 2 cores, a real cost: its share is in the table).
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REVIEW = ("a gorgeous, patient film whose quiet scenes land harder than its big ones, though the last act "
          "drags a little")


def _exports(root: Path) -> Path:
    """``root/exports/{photos,reviews}/1``, made once."""
    exports = root / "exports"
    if (exports / "photos" / "1").is_dir() and (exports / "reviews" / "1").is_dir():
        return exports
    script = (
        "import sys, keras, tfxfer\n"
        "from tfxfer.data import demo\n"
        "keras.utils.set_random_seed(0)\n"
        f"lite0 = {str(REPO.parent / 'shared' / 'assets' / 'efficientnet_lite0_imagenet')!r}\n"
        "image = tfxfer.build_image_classifier('kerashub:' + lite0, 10, image_size=(224, 224))\n"
        "tfxfer.export_saved_model(image, sys.argv[1], 'photos', [f'class_{i}' for i in range(10)])\n"
        "text = tfxfer.build_text_classifier('kerashub:' + str(demo.minilm_dir()), 2, sequence_length=128)\n"
        "tfxfer.export_saved_model(text, sys.argv[1], 'reviews', ['fresh', 'rotten'])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(exports)], check=True, cwd=REPO)
    return exports


def _bodies(root: Path) -> dict[str, Path]:
    """One request body a model: one example."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(jpeg, format="JPEG", quality=90)
    bodies = {"photos": {"instances": [{"b64": base64.b64encode(jpeg.getvalue()).decode()}]},
              "reviews": {"instances": [REVIEW]}}
    paths = {}
    for name, body in bodies.items():
        paths[name] = root / f"{name}_body.json"
        paths[name].write_text(json.dumps(body))
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1000


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_seconds() -> float:
    """CPU-seconds every process on the machine has used (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _start_server(exports: Path, port: int, extra: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "tfxfer.serve", str(exports), "--port", str(port), *extra],
                                  cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the server ended: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/reviews", timeout=5):
                return server
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _locust(port: int, model: str, body: Path, users: int, seconds: int, prefix: Path, server_pid: int) -> dict:
    """One locust run; besides locust's figures, the server's resident memory sampled every 2 s
    and the CPU-seconds the server, locust and every other process used meanwhile."""
    env = {**os.environ, "TFXFER_LOAD_PATH": f"/v1/models/{model}:predict", "TFXFER_LOAD_BODY": str(body)}
    started = time.time()
    busy, children, server_cpu = _busy_seconds(), _children_cpu(), _cpu_seconds(server_pid)
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(REPO / "benchmarks" / "serve_locustfile.py"), "--headless",
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
         "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = []  # (seconds since the start, server RSS MB)
    while process.poll() is None:
        memory.append((time.time() - started, _rss_mb(server_pid)))
        time.sleep(2)
    _, stderr = process.communicate(timeout=seconds + 120)
    locust_cpu = _children_cpu() - children
    server_cpu = _cpu_seconds(server_pid) - server_cpu
    others = _busy_seconds() - busy - locust_cpu - server_cpu
    warm = next((rss for t, rss in memory if t >= 10), memory[0][1])
    with open(f"{prefix}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]), "p50": float(row["50%"]), "p95": float(row["95%"]),
            "p99": float(row["99%"]), "wall": time.time() - started, "locust_exit": process.returncode,
            "rss_warm": warm, "rss_end": memory[-1][1], "rss_max": max(rss for _, rss in memory),
            "server_cpu": server_cpu, "locust_cpu": locust_cpu, "other_cpu": others}


def _ceiling(exports: Path, model: str, batches: list[int], seconds: float) -> dict:
    """The signature called in a fresh process, nothing else in between: examples/s for each
    batch size in ``batches`` (``seconds`` each; the best is the ceiling), then the latency of
    single examples for ``seconds``."""
    script = r"""
import base64, json, sys, time
import numpy as np, tensorflow as tf
path, body, batches, seconds = sys.argv[1], json.load(open(sys.argv[2])), json.loads(sys.argv[3]), float(sys.argv[4])
task = json.load(open(path + "/assets/tfxfer.json"))["task"]
if task == "text":
    import tensorflow_text  # noqa: F401
serve = tf.saved_model.load(path).signatures["serving_default"]
value = body["instances"][0]
value = base64.b64decode(value["b64"]) if isinstance(value, dict) else value.encode()
key = "text" if task == "text" else "image_bytes"
throughput = {}
for batch in batches:
    serve(**{key: tf.constant([value] * batch)})
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        serve(**{key: tf.constant([value] * batch)})["probabilities"].numpy()
        done += batch
    throughput[batch] = done / (time.perf_counter() - start)
latencies, start = [], time.perf_counter()
while time.perf_counter() - start < seconds:
    t = time.perf_counter()
    serve(**{key: tf.constant([value])})["probabilities"].numpy()
    latencies.append((time.perf_counter() - t) * 1000)
best = max(throughput, key=throughput.get)
print(json.dumps({"rps": throughput[best], "batch": best, "throughput": throughput,
                  "p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                  "p99": float(np.percentile(latencies, 99))}))
"""
    body = exports.parent / f"{model}_body.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    busy, children = _busy_seconds(), _children_cpu()
    result = subprocess.run([sys.executable, "-c", script, str(exports / model / "1"), str(body), json.dumps(batches),
                             str(seconds)], capture_output=True, text=True, check=True, env=env)
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    stats["other_cpu"] = _busy_seconds() - busy - (_children_cpu() - children)
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--seconds", type=int, default=60, help="length of each run (default 60)")
    p.add_argument("--max-batch-size", type=int, default=32, help="the server's batch size with batching on")
    p.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "benchmarks" / "serve")
    p.add_argument("--results", type=Path, help="also write the table to this Markdown file")
    args = p.parse_args(argv)
    root = args.work_dir
    root.mkdir(parents=True, exist_ok=True)
    exports = _exports(root)
    bodies = _bodies(root)
    rows = []
    for label, extra in (("batching on", ["--max-batch-size", str(args.max_batch_size)]),
                         ("batching off", ["--max-batch-size", "1"])):
        port = _free_port()
        server = _start_server(exports, port, extra, root / f"server_{label.split()[1]}.log")
        try:
            for model in ("photos", "reviews"):
                stats = _locust(port, model, bodies[model], args.users, args.seconds,
                                root / f"locust_{model}_{label.split()[1]}", server.pid)
                rows.append((model, f"tfxfer.serve, {label}", stats))
                print(model, label, json.dumps(stats), flush=True)
        finally:
            server.terminate()
            server.wait(60)
    for model in ("photos", "reviews"):
        stats = _ceiling(exports, model, sorted({1, 8, args.max_batch_size}), min(args.seconds, 30) / 2)
        rows.append((model, f"in-process signature (throughput: batches of {stats['batch']}, the best of "
                            f"{', '.join(map(str, stats['throughput']))}; latency: 1 example)", stats))
        print(model, "ceiling", json.dumps(stats), flush=True)
    table = _table(rows, args)
    print(table)
    if args.results:
        args.results.write_text(table)
    return 0


def _table(rows, args) -> str:
    lines = [f"{args.users} concurrent clients (locust, headless, no wait between requests), {args.seconds} s a run, "
             f"one example a request; {os.cpu_count()} CPU cores shared by the server and locust "
             f"(and by any other process: its CPU-seconds are in the last column).", "",
             "| model | how | requests/s | p50 ms | p95 ms | p99 ms | requests | errors | server RSS MB at 10 s -> "
             "end (max) | CPU-s: server, locust, other processes |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for model, how, s in rows:
        memory = f"{s['rss_warm']:.0f} -> {s['rss_end']:.0f} ({s['rss_max']:.0f})" if "rss_warm" in s else ""
        cpu = (f"{s['server_cpu']:.0f}, {s['locust_cpu']:.0f}, {s['other_cpu']:.0f}" if "server_cpu" in s
               else f"-, -, {s['other_cpu']:.0f}")
        lines.append(f"| {model} | {how} | {s['rps']:.1f} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | "
                     f"{s.get('requests', '')} | {s.get('failures', '')} | {memory} | {cpu} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
