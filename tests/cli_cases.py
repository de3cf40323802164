"""Runs several invocations of tfxfer commands in a single fresh process, each exactly as
``python -m MODULE ARGS...`` would run it (``run_main``: the same messages and exit statuses),
and writes what each printed and returned to a JSON file.

Bad-input tests check a dozen invocations each, and an end-to-end test predicts and evaluates
several times; importing TensorFlow once instead of a dozen times is most of their time. Usage:
``python -m tests.cli_cases CASES.json RESULTS.json``, where CASES.json holds a list of
``[MODULE, [ARG, ...]]`` pairs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import sys


def main(cases_file: str, results_file: str) -> None:
    from tfxfer.cli.exit_status import run_main

    logging.basicConfig(level=logging.INFO)  # once, on the real stderr (run_main's call is then a no-op)
    results = []
    for module_name, argv in json.loads(open(cases_file, encoding="utf-8").read()):
        module = importlib.import_module(module_name)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = run_main(module_name, module.main, argv)
            except SystemExit as e:  # argparse's usage errors
                status = e.code if isinstance(e.code, int) else 1
        results.append({"args": [module_name, *argv], "returncode": status, "stdout": out.getvalue(),
                        "stderr": err.getvalue()})
    with open(results_file, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
