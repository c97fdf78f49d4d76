"""The bench's ceiling for aiohttp: the same files as nginx, served from memory by the least code that is correct.

``python bench/bare_aiohttp.py --port PORT --root DIR --hotlink-domain D`` loads every ``*.png``,
``*.jpg`` and ``*.webp`` in DIR (and in DIR/hotlink) into a dict at start and answers ``GET /<name>`` with
its bytes: the content type of its suffix, a fixed strong ETag (nginx's format, so the same string as
nginx's for the same file), 304 when ``If-None-Match`` is exactly that ETag, and 206 for one
``Range: bytes=a-b`` (or ``a-``). A file from DIR/hotlink is hotlink-protected: served only when the
Referer's host is one of the ``--hotlink-domain`` values, else 403 (checked first, as the origin does).
One process, uvloop, no access log, no middlewares. Anything an aiohttp app does on top of this costs
more; see bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import uvloop
from aiohttp import http_writer, web

RANGE = re.compile(r"bytes=(\d+)-(\d*)")
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
#: Name -> (bytes, ETag, content type, hotlink-protected).
Files = dict[str, tuple[bytes, str, str, bool]]


def load(root: Path) -> Files:
    """Every served file; the ETag is nginx's: hex mtime and hex size, quoted."""
    files = {}
    for protected, folder in ((False, root), (True, root / "hotlink")):
        for path in sorted(folder.glob("*.*")):
            if path.suffix in CONTENT_TYPES:
                stat = path.stat()
                etag = f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'
                files[path.name] = (path.read_bytes(), etag, CONTENT_TYPES[path.suffix], protected)
    return files


def make_app(files: Files, hotlink_domains: frozenset[str]) -> web.Application:
    def referer_allowed(referer: str | None) -> bool:
        try:
            return referer is not None and urlsplit(referer).hostname in hotlink_domains
        except ValueError:
            return False

    async def serve(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, etag, content_type, protected = found
        if protected and not referer_allowed(request.headers.get("Referer")):
            raise web.HTTPForbidden()
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"Content-Type": content_type, "ETag": etag, "Accept-Ranges": "bytes"}
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
    parser.add_argument("--root", type=Path, required=True, help="directory whose image files are served")
    parser.add_argument(
        "--hotlink-domain", action="append", default=[], help="a Referer host allowed for files in ROOT/hotlink"
    )
    args = parser.parse_args()
    # The same record format as the origin's, so bench/run.py finds warnings and errors in the log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    files = load(args.root)
    # What the origin does on uvloop (origin/cli/main.py): headers and body leave in one writev, not joined.
    http_writer.SKIP_WRITELINES = False
    print(f"bare aiohttp: {len(files)} files, {sum(len(f[0]) for f in files.values()):,} bytes in memory", flush=True)
    web.run_app(
        make_app(files, frozenset(args.hotlink_domain)),
        host=args.host,
        port=args.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        backlog=1024,
    )


if __name__ == "__main__":
    main()
