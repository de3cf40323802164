"""The serving engine, KServe's Python model server (``kserve`` on PyPI): its model class, its
registry and data plane, its REST server (FastAPI on uvicorn) with the KServe v1 and Open
Inference Protocol (v2) endpoints, errors and Prometheus metrics.

``app`` is the FastAPI application KServe's REST server serves (a module-level object in
``kserve.model_server``). Imported here, once, without letting it read this process's command line:
``kserve.model_server`` parses ``sys.argv`` when it is imported (its own ``--http_port``,
``--workers``... with argparse's prefix matching), which would take ``python -m tfxfer.serve``'s
arguments for its own.
"""

import sys
from importlib.metadata import version

from tfxfer.errors import TfxferError

_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve import Model
    from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
    from kserve.errors import InvalidInput, ModelNotFound
    from kserve.model_repository import ModelRepository
    from kserve.model_server import app
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer
except ImportError as e:
    raise TfxferError(f"python -m tfxfer.serve needs KServe's model server ({e.name} is not installed): "
                      f"pip install 'tfxfer[serve]' (from a checkout: pip install -e '.[serve]')") from None
finally:
    sys.argv = _argv

VERSION = version("kserve")

__all__ = ["FASTAPI_APP_IMPORT_STRING", "VERSION", "DataPlane", "InferOutput", "InferRequest", "InferResponse",
           "InvalidInput", "Model", "ModelNotFound", "ModelRepository", "ModelRepositoryExtension", "RESTServer", "app"]
