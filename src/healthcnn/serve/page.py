"""The page at ``/``: one HTML file and its script and style sheet, shipped in the package
(``healthcnn/serve/static``), so the page works with no network: no external URL anywhere."""

from __future__ import annotations

from functools import cache
from importlib import resources

#: the files ``/static/{name}`` serves, and their media types
STATIC = {
    "page.js": "text/javascript; charset=utf-8",
    "viewer.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("healthcnn.serve").joinpath("static", name).read_bytes()


def page_html() -> str:
    return _read("index.html").decode("utf-8")


def static_file(name: str) -> tuple[bytes, int, dict[str, str], str] | None:
    """``(content, status, headers, media type)`` of a shipped file, ``None`` for any other
    name (never a path: only the names in :data:`STATIC`)."""
    if name not in STATIC:
        return None
    return _read(name), 200, {"Cache-Control": "no-cache"}, STATIC[name]
