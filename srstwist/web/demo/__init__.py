# -*- test-case-name: tests.integration.test_console -*-
"""
The demo page (issue 22): what ``http://127.0.0.1:8080/`` shows on
``conf/srs.conf`` when the HTTP server's ``dir`` has no page of its own.

SRS 2.0 ships players and a publisher page under ``objs/nginx/html``
(``trunk/research/players``), served by its HTTP server; a new user of ours
has no such tree, so the HTTP server falls back to this directory for the
few names below, and only for its own ``dir`` (never under a vhost's
``http_static`` mount, never when the directory holds a file of that
name): a page that lists the live streams (from the HTTP API, on the same
host at port 1985 unless ``?api=`` says otherwise) and plays one in
HTTP-FLV, WebSocket-FLV or HLS with the console's vendored players.
"""

from __future__ import annotations

import os

from srstwist.web.api import CONSOLE_DIR

__all__ = ["DEMO_DIR", "demo_file"]

#: Where the demo's own files are (package data).
DEMO_DIR = os.path.dirname(os.path.abspath(__file__))

#: The names served, and the directory each comes from.
_FILES = {
    "index.html": DEMO_DIR,
    "demo.js": DEMO_DIR,
    "demo.css": DEMO_DIR,
    "flv.min.js": CONSOLE_DIR,
    "mpegts.js": CONSOLE_DIR,
    "hls.min.js": CONSOLE_DIR,
}


def demo_file(root: str, server_dir: str, segments: tuple[str, ...]) -> str | None:
    """
    The demo file to serve for a request that found no file.

    :param root: the directory the request was routed to.
    :param server_dir: ``http_server.dir``: the demo stands in for it alone.
    :param segments: the path below the root; ``()`` is its index.
    :return: the file's path, or ``None`` (then 404 as before).
    """
    if os.path.abspath(root) != os.path.abspath(server_dir):
        return None
    if len(segments) > 1:
        return None
    name = segments[0] if segments else "index.html"
    directory = _FILES.get(name)
    return os.path.join(directory, name) if directory is not None else None
