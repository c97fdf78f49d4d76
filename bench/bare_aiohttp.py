"""The bench's ceiling for aiohttp: the same files as nginx, served from memory by the least code that is correct.

``python bench/bare_aiohttp.py --port PORT --root DIR`` loads every ``*.png`` in DIR into a dict at start
and answers ``GET /<name>`` with its bytes: ``Content-Type: image/png``, a fixed strong ETag (nginx's
format, so the same string as nginx's for the same file), 304 when ``If-None-Match`` is exactly that
ETag, and 206 for one ``Range: bytes=a-b`` (or ``a-``). One process, uvloop, no access log, no
middlewares. Anything an aiohttp app does on top of this costs more; see bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import uvloop
from aiohttp import web

RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def load(root: Path) -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, ETag); the ETag is nginx's: hex mtime and hex size, quoted."""
    files = {}
    for path in sorted(root.glob("*.png")):
        stat = path.stat()
        files[path.name] = (path.read_bytes(), f'"{int(stat.st_mtime):x}-{stat.st_size:x}"')
    return files


def make_app(files: dict[str, tuple[bytes, str]]) -> web.Application:
    async def serve(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, etag = found
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"Content-Type": "image/png", "ETag": etag, "Accept-Ranges": "bytes"}
        match = RANGE.fullmatch(request.headers.get("Range", ""))
        if match is None:
            return web.Response(body=body, headers=headers)
        size, first = len(body), int(match.group(1))
        if first >= size:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if last < first:  # bytes=5-3: invalid, so the Range header is ignored
            return web.Response(body=body, headers=headers)
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return web.Response(status=206, body=body[first : last + 1], headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", serve)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="directory whose *.png files are served")
    args = parser.parse_args()
    # The same record format as the origin's, so bench/run.py finds warnings and errors in the log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    files = load(args.root)
    print(f"bare aiohttp: {len(files)} files, {sum(len(b) for b, _ in files.values()):,} bytes in memory", flush=True)
    web.run_app(
        make_app(files), host=args.host, port=args.port, loop=uvloop.new_event_loop(), access_log=None, backlog=1024
    )


if __name__ == "__main__":
    main()
