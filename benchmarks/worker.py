"""``python -m benchmarks.worker JOB SPEC_JSON RESULT_JSON``: one side of one benchmark, in a
process of its own (one side's memory and graph state never touch the other's)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _jobs():
    from benchmarks import gpu, probe, reference

    return {
        "reference-text": reference.text,
        "reference-image": reference.image,
        "tfxfer-text-probe": probe.text,
        "tfxfer-image-probe": probe.image,
        "gpu-mfu": gpu.mfu,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m benchmarks.worker JOB SPEC_JSON RESULT_JSON", file=sys.stderr)
        return 2
    job, spec_file, result_file = argv
    started = time.perf_counter()
    spec = json.loads(Path(spec_file).read_text())
    jobs = _jobs()
    if job not in jobs:
        print(f"unknown job {job!r}; one of {', '.join(jobs)}", file=sys.stderr)
        return 2
    result = jobs[job](spec)
    result["worker_seconds"] = round(time.perf_counter() - started, 3)
    Path(result_file).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
