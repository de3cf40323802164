"""``python -m tfxfer.launch --workers N -- TRAIN_ARGS...``: a multi-worker run on this machine.

Starts N ``python -m tfxfer.train`` processes, each with a TF_CONFIG naming all of them on
127.0.0.1 (free ports), so ``--strategy auto`` picks MultiWorkerMirroredStrategy. Their output
is streamed with a ``[worker-i]`` prefix. When one worker fails, the others are stopped and
the launcher exits with that worker's status; it exits 0 when all succeed.

On a real cluster, start ``python -m tfxfer.train`` on every machine with its own TF_CONFIG
instead (README: "Several machines").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.errors import TfxferError

_GRACE_SECONDS = 10


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_environments(n: int) -> list[dict]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(n)]}
    return [
        {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        for i in range(n)
    ]


def _stream(process: subprocess.Popen, prefix: str) -> None:
    for line in process.stdout:
        sys.stdout.write(f"{prefix} {line}")
        sys.stdout.flush()


def _stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + _GRACE_SECONDS
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch(workers: int, train_args: list[str]) -> int:
    """Runs the workers to the end; returns 0, or the status of the first worker that failed."""
    processes, threads = [], []
    for i, env in enumerate(worker_environments(workers)):
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "tfxfer.train", *train_args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        processes.append(process)
        thread = threading.Thread(target=_stream, args=(process, f"[worker-{i}]"), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        while True:
            codes = [p.poll() for p in processes]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                print(f"tfxfer.launch: worker-{index} exited with status {code}; stopping the others",
                      file=sys.stderr, flush=True)
                _stop(processes)
                return code
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(processes)
        return 130
    finally:
        for thread in threads:
            thread.join(timeout=5)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        own, train_args = argv[:split], argv[split + 1:]
    else:
        own, train_args = argv, []
    parser = ArgumentParser(prog="python -m tfxfer.launch",
                            description="Run N local workers of a MultiWorkerMirroredStrategy training.")
    parser.add_argument("--workers", type=int, required=True, help="number of worker processes (>= 1)")
    args = parser.parse_args(own)
    if args.workers < 1:
        raise TfxferError(f"--workers must be >= 1, got {args.workers}")
    if not train_args:
        raise TfxferError("no training arguments: python -m tfxfer.launch --workers N -- --task ... --train ...")
    return launch(args.workers, train_args)


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.launch", main))
