"""``python -m tfxfer.serve EXPORT_DIR``: a local model server for every model exported there,
speaking TF Serving's REST API, on KServe's Python model server.

Each ``EXPORT_DIR/NAME/`` is served at its newest version; a version exported there later is
picked up without a restart. Requests that arrive together are batched. Listens on
127.0.0.1:8501 (TF Serving's REST port) unless ``--host``/``--port`` say otherwise.

Example:

```bash
python -m tfxfer.serve saved_models/
curl -d '{"instances": ["a gorgeous film"]}' localhost:8501/v1/models/reviews:predict
```
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from pathlib import Path

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.errors import TfxferError
from tfxfer.serving.export_dir import complete_versions, model_folders


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m tfxfer.serve",
                       description="Serve every model of an export directory with TF Serving's REST API.")
    p.add_argument("export_dir", help="the directory holding NAME/VERSION/ folders (--export-dir of tfxfer.train)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every network)")
    p.add_argument("--port", type=int, default=8501, help="the port (default 8501, TF Serving's REST port)")
    p.add_argument("--max-batch-size", type=int, default=32,
                   help="the most examples one call of a model takes from concurrent requests (default 32; 1 turns "
                        "batching off)")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0,
                   help="how long a batch waits after its first request for more (default 2 ms)")
    p.add_argument("--poll-seconds", type=float, default=1.0,
                   help="how often the export directory is checked for new versions (default 1 s)")
    p.add_argument("--max-request-mb", type=float, default=8.0,
                   help="the largest request body accepted, in MB (default 8); a larger one is refused with 400")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value, low in (("--port", args.port, 0), ("--max-batch-size", args.max_batch_size, 1),
                             ("--batch-timeout-ms", args.batch_timeout_ms, 0),
                             ("--poll-seconds", args.poll_seconds, 0.05), ("--max-request-mb", args.max_request_mb, 0.001)):
        if not low <= value or (flag == "--port" and value > 65535):
            raise TfxferError(f"{flag} must be {'between 0 and 65535' if flag == '--port' else f'>= {low}'}, got {value}")
    export_dir = Path(args.export_dir)
    _check_export_dir(export_dir)
    sock = _bind(args.host, args.port)
    start_tensorflow(args.verbose)
    from tfxfer.serving.model_server import ExportDirServer, ServerOptions
    from tfxfer.serving.served_model import BatchingOptions

    options = ServerOptions(BatchingOptions(args.max_batch_size, args.batch_timeout_ms / 1000), args.poll_seconds,
                            int(args.max_request_mb * 1_000_000), args.verbose)
    server = ExportDirServer(export_dir, options)
    models = server.load()
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"serving {export_dir} on {url} with TF Serving's REST API (KServe's model server); Ctrl-C stops")
    width = max(len(m.name) for m in models)
    for model in models:
        servable = model.current.servable
        print(f"  {model.name:<{width}}  version {model.current.number}  {servable.task}, "
              f"{'numeric labels (value)' if servable.labels == 'numeric' else f'{len(servable.class_names)} classes'}"
              f"  POST {url}/v1/models/{model.name}:predict")
    print(f"new versions exported under {export_dir} are served within {args.poll_seconds:g} s of appearing")
    if not _is_loopback(host):
        print(f"note: {host} takes requests from other machines, with no authentication: anyone who can reach "
              f"port {port} can use the models")
    sys.stdout.flush()
    server.run(sock)
    return 0


def _check_export_dir(export_dir: Path) -> None:
    """An export directory with at least one NAME/VERSION/saved_model.pb; the usual mistakes
    (a model's folder, a version's folder) say which directory to pass instead."""
    if not export_dir.is_dir():
        raise TfxferError(f"export directory {export_dir} {'is not a directory' if export_dir.exists() else 'does not exist'}")
    if (export_dir / "saved_model.pb").is_file():
        raise TfxferError(f"{export_dir} is one version of a model: pass the export directory two levels up "
                          f"({export_dir.resolve().parent.parent}), which holds NAME/VERSION/ folders")
    own = complete_versions(export_dir)
    if own:
        raise TfxferError(f"{export_dir} is one model's folder (versions {', '.join(map(str, own))}): pass the "
                          f"directory above it ({export_dir.resolve().parent}), which holds NAME/VERSION/ folders")
    if not model_folders(export_dir):
        raise TfxferError(f"{export_dir} holds no exported model: expected NAME/VERSION/saved_model.pb inside, "
                          f"as python -m tfxfer.train --export-dir {export_dir} writes")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """The listening address, taken now: a port in use is one line before TensorFlow starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise TfxferError(f"--host {host} is not an address of this machine ({e.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise TfxferError(f"port {port} on {host} is taken (another server listens there): pass --port with "
                              f"a free one") from None
        raise TfxferError(f"cannot listen on {host}:{port} ({e.strerror}): pass another --host or --port") from None
    return sock


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.serve", main))
