"""``python -m tfxfer.launch --workers N -- TRAIN_ARGS...``: a multi-worker run on this machine.

Starts N ``python -m tfxfer.train`` processes, each with a TF_CONFIG naming all of them on
127.0.0.1 (free ports), so ``--strategy auto`` picks MultiWorkerMirroredStrategy. Their output
is streamed with a ``[worker-i]`` prefix. When one worker fails, the others are stopped and
the launcher exits with that worker's status; it exits 0 when all succeed.

On a real cluster, start ``python -m tfxfer.train`` on every machine with its own TF_CONFIG
instead (README: "Several machines").

Exposure: TF_CONFIG names 127.0.0.1, and the workers talk to each other over loopback, but
TensorFlow's gRPC server listens on every interface whatever the host in TF_CONFIG
(``grpc_server_lib.cc`` binds the wildcard address; there is no setting to narrow it), and it
runs any graph it is sent, without authentication. The ports are therefore picked free on the
wildcard address, and multi-worker training belongs on a trusted network (README).

The ports are picked here and bound by the workers a moment later; when another process takes
one in between, the worker says so (exit status 4) and the workers are started again on new
ports, up to ``_PORT_ATTEMPTS`` times.
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
from tfxfer.cli.exit_status import EXIT_PORT_TAKEN, run_main
from tfxfer.errors import TfxferError

_GRACE_SECONDS = 10
_PORT_ATTEMPTS = 3


def _wildcard_socket() -> socket.socket:
    """A TCP socket on the address TensorFlow's server binds: every interface, IPv6 and IPv4
    where the host has IPv6, else IPv4."""
    if socket.has_ipv6:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            return s
        except OSError:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    return s


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on the wildcard address (a port free on 127.0.0.1 alone may be
    taken on another interface, where TensorFlow's bind would then fail)."""
    sockets = []
    try:
        for _ in range(n):
            sockets.append(_wildcard_socket())
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_environments(n: int, ports: list[int] | None = None) -> list[dict]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in (ports or free_ports(n))]}
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


def launch(workers: int, train_args: list[str], pick_ports=free_ports) -> int:
    """Runs the workers to the end; returns 0, or the status of the first worker that failed.
    When a worker finds its port taken (between ``pick_ports`` and its bind), all start again
    on new ports, up to ``_PORT_ATTEMPTS`` times."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        code = _run_workers(worker_environments(workers, pick_ports(workers)), train_args)
        if code != EXIT_PORT_TAKEN or attempt == _PORT_ATTEMPTS:
            return code
        print(f"tfxfer.launch: another process took a port picked for the workers before they could listen "
              f"on it; starting them again on new ports (attempt {attempt + 1} of {_PORT_ATTEMPTS})",
              file=sys.stderr, flush=True)
    return code


def _run_workers(environments: list[dict], train_args: list[str]) -> int:
    processes, threads = [], []
    for i, env in enumerate(environments):
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
    parser.add_argument("--private-network", action="store_true",
                        help="Linux: run the workers in a network namespace of their own that has only loopback, "
                             "so their gRPC servers (TensorFlow binds them to every interface) cannot be reached "
                             "from other machines; nothing can be downloaded there either (fetch presets and "
                             "weights first, or pass local paths)")
    args = parser.parse_args(own)
    if args.workers < 1:
        raise TfxferError(f"--workers must be >= 1, got {args.workers}")
    if not train_args:
        raise TfxferError("no training arguments: python -m tfxfer.launch --workers N -- --task ... --train ...")
    if args.private_network and os.environ.get(_IN_PRIVATE_NETWORK) != "1":
        return _in_private_network(argv)
    if args.private_network:
        _loopback_up()
        interfaces = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:])
        print(f"tfxfer.launch: the workers run in a private network namespace; its interfaces: {', '.join(interfaces)}",
              file=sys.stderr, flush=True)
    return launch(args.workers, train_args)


# Set in the launcher started inside the private network namespace.
_IN_PRIVATE_NETWORK = "TFXFER_LAUNCH_IN_PRIVATE_NETWORK"


def _in_private_network(argv: list[str]) -> int:
    """Runs this launcher again inside a new user and network namespace (``unshare -rn``, no
    privileges needed where the kernel allows unprivileged user namespaces); its workers share
    that namespace, whose only interface is loopback."""
    unshare = ["unshare", "--user", "--map-root-user", "--net"]
    try:
        probe = subprocess.run([*unshare, "true"], capture_output=True, text=True)
    except FileNotFoundError:
        probe = None
    if probe is None or probe.returncode != 0:
        why = "unshare(1) is not installed" if probe is None else (probe.stderr.strip() or "unshare failed")
        raise TfxferError(f"--private-network needs Linux user and network namespaces ({why}): run without it "
                          f"on a trusted network, or enable unprivileged user namespaces")
    command = [*unshare, sys.executable, "-m", "tfxfer.launch", *argv]
    try:
        return subprocess.run(command, env={**os.environ, _IN_PRIVATE_NETWORK: "1"}).returncode
    except KeyboardInterrupt:  # the inner launcher got the same Ctrl-C and stops its workers
        return 130


def _loopback_up() -> None:
    """Brings up ``lo``, down in a new network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))  # IFF_UP


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.launch", main))
