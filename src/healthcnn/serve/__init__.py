"""``healthcnn serve``: bundles behind an HTTP API and a web page (FastAPI on uvicorn).

:func:`create_app` builds the application over :class:`ServedModel` s; :func:`serve` runs it
with uvicorn on a socket it binds (127.0.0.1 unless told otherwise). See ``docs/serving.md``.
"""

from .app import ServeConfig, create_app
from .models import ServedModel
from .run import load_models, serve

__all__ = ["ServeConfig", "ServedModel", "create_app", "load_models", "serve"]
