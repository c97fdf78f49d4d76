"""``picora-origin upload|list|tag|visibility|delete``: the API from a terminal.

The base URL and key come from ``--url``/``--key`` or ``PICORA_API_URL``/``PICORA_API_KEY``. Errors
name what went wrong and what to do about it; exit status 1 is an answer from the origin (or no
answer), 2 a mistake on the command line, as with argparse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from origin.cli.client.api import ApiError, PicoraClient, Unreachable
from origin.images.ids import ID_PATTERN

COMMANDS = frozenset({"upload", "list", "tag", "visibility", "delete"})
DEFAULT_URL = "http://localhost:8080"
URL_ENV, KEY_ENV = "PICORA_API_URL", "PICORA_API_KEY"
#: Files at least this large get a progress bar (when stderr is a terminal, unless --no-progress).
PROGRESS_MIN_BYTES = 1024 * 1024
#: The published contract's image id; anything else cannot name an image.


class UsageError(Exception):
    """Something on the command line cannot work; exit status 2 like argparse."""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the client subcommands on ``picora-origin``'s parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the origin's base URL (default: ${URL_ENV} or {DEFAULT_URL})")
    common.add_argument("--key", help=f"API key (default: ${KEY_ENV})")
    common.add_argument("--json", action="store_true", help="print what the API returned, as JSON")

    upload = commands.add_parser("upload", parents=[common], help="upload an image file")
    upload.add_argument("file", type=Path, metavar="FILE")
    upload.add_argument("--private", action="store_true", help="only you (and signed URLs) can see it")
    upload.add_argument("--tag", action="append", default=[], dest="tags", metavar="T", help="a tag (repeatable)")
    upload.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="show a progress bar (default: for files of 1 MiB or more when stderr is a terminal)",
    )
    listing = commands.add_parser("list", parents=[common], help="list your images, newest first")
    listing.add_argument("--tag", metavar="T", help="only images with this tag")
    tag = commands.add_parser("tag", parents=[common], help="replace an image's tags")
    tag.add_argument("image", metavar="ID", help="image id or media URL")
    tag.add_argument("tags", nargs="*", metavar="T")
    tag.add_argument("--clear", action="store_true", help="remove every tag")
    visibility = commands.add_parser("visibility", parents=[common], help="make an image public or private")
    visibility.add_argument("image", metavar="ID", help="image id or media URL")
    visibility.add_argument("visibility", choices=["public", "private"])
    delete = commands.add_parser("delete", parents=[common], help="delete an image")
    delete.add_argument("image", metavar="ID", help="image id or media URL")


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def image_id(argument: str) -> str:
    """An id from what a user has at hand: the id, ``<id>.<ext>`` or a media URL."""
    name = urlsplit(argument).path.rsplit("/", 1)[-1] if "/" in argument else argument
    candidate = name.split(".", 1)[0]
    if not ID_PATTERN.fullmatch(candidate):
        raise UsageError(
            f"not an image id: {argument!r} (ids are 11 characters like xK9mR2pQ7vB; a media URL works too)"
        )
    return candidate


class ProgressBar:
    """``label [#####-----]  42%  4.2/10.0 MiB`` redrawn in place, at most ten times a second."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self.stream, self.label, self.width = stream, label, width
        self.drawn_at: float | None = None

    def __call__(self, sent: int, total: int) -> None:
        now = time.monotonic()
        if sent < total and self.drawn_at is not None and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        fraction = sent / total if total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        done = f"{human_size(sent)}/{human_size(total)}"
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%}  {done}")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn_at is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn_at = None


def _describe(image: Mapping[str, Any]) -> str:
    """One line per image: id, visibility, size, created, tags, file name."""
    tags = ",".join(image["tags"]) or "-"
    visibility = "public" if image["isPublic"] else "private"
    size = human_size(image["sizeBytes"])
    return f"{image['id']}  {visibility:<7}  {size:>9}  {image['createdAt']}  {tags}  {image['filename']}"


def _readable_size(path: Path) -> int:
    """The size of a file we can upload, or a ``UsageError`` saying why we cannot."""
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")
    return path.stat().st_size


class Command:
    """One invocation: the parsed arguments, where output goes, and the client."""

    def __init__(self, args: argparse.Namespace, client: PicoraClient, out: TextIO, err: TextIO) -> None:
        self.args, self.client, self.out, self.err = args, client, out, err

    def emit(self, data: Any, text: str) -> None:
        print(json.dumps(data, ensure_ascii=False, indent=2) if self.args.json else text, file=self.out)

    async def upload(self) -> None:
        path: Path = self.args.file
        size = await asyncio.to_thread(_readable_size, path)
        show = self.args.progress
        if show is None:
            show = size >= PROGRESS_MIN_BYTES and self.err.isatty()
        bar = ProgressBar(self.err, path.name) if show else None
        try:
            image = await self.client.upload(path, public=not self.args.private, tags=self.args.tags, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        self.emit(image, f"uploaded {path.name}: {_describe(image)}\n{image['url']}")

    async def list(self) -> None:
        items = []
        async for image in self.client.images(tag=self.args.tag):
            items.append(image)
            if not self.args.json:
                print(_describe(image), file=self.out)
        if self.args.json:
            self.emit(items, "")
        elif not items:
            print(f"no images tagged {self.args.tag!r}" if self.args.tag else "no images yet", file=self.err)

    async def tag(self) -> None:
        if not self.args.tags and not self.args.clear:
            raise UsageError("name at least one tag, or --clear to remove them all")
        if self.args.tags and self.args.clear:
            raise UsageError("--clear takes no tags")
        image = await self.client.update(image_id(self.args.image), tags=self.args.tags)
        self.emit(image, f"{image['id']} tags: {', '.join(image['tags']) or '(none)'}")

    async def visibility(self) -> None:
        public = self.args.visibility == "public"
        image = await self.client.update(image_id(self.args.image), public=public)
        self.emit(image, f"{image['id']} is now {self.args.visibility}")

    async def delete(self) -> None:
        result = await self.client.delete(image_id(self.args.image))
        self.emit(result, f"deleted {result['id']}")


def _hints(exc: ApiError, args: argparse.Namespace, url: str) -> list[str]:
    """What to do about an error, as far as the client can tell."""
    details = exc.details
    if exc.code in ("UNAUTHORIZED", "INVALID_TOKEN"):
        return [
            f"the origin refused the API key: check --key or ${KEY_ENV}",
            "(`picora-origin keys create --user NAME` on the server prints a new one)",
        ]
    if exc.code == "NOT_FOUND" and getattr(args, "image", None):
        return [f"no image {image_id(args.image)} in your account; `picora-origin list` shows yours"]
    if exc.code in ("NOT_FOUND", "METHOD_NOT_ALLOWED", "NOT_THE_API"):
        return [f"is {url} the origin's base URL? pass --url or set ${URL_ENV} (e.g. {DEFAULT_URL})"]
    if exc.code == "PAYLOAD_TOO_LARGE" and "maxFileBytes" in details:
        size = human_size(args.file.stat().st_size)
        return [f"{args.file.name} is {size}; your plan allows {human_size(details['maxFileBytes'])} per file"]
    if exc.code == "UNSUPPORTED_MEDIA_TYPE" and details.get("accepted"):
        return [f"accepted formats: {', '.join(map(str, details['accepted']))}"]
    if exc.code == "QUOTA_EXCEEDED":
        used, limit = human_size(details.get("usedBytes", 0)), human_size(details.get("limitBytes", 0))
        return [f"{used} of your {limit} are used; delete images to make room"]
    if "retryAfterSeconds" in details:
        return [f"try again in {details['retryAfterSeconds']} s"]
    return []


def run(
    args: argparse.Namespace,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one client subcommand; the exit status."""
    env = os.environ if env is None else env
    out, err = out or sys.stdout, err or sys.stderr
    url = (args.url or env.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    key = args.key or env.get(KEY_ENV)
    prog = f"picora-origin {args.command}"
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or "?" in url or "#" in url:
            raise UsageError(f"the base URL must be http(s)://host[:port][/path], got {url!r}")
        if not key:
            raise UsageError(f"no API key: pass --key or set {KEY_ENV} (`picora-origin keys create --user NAME`)")
        return asyncio.run(_run(args, url, key, out, err))
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=err)
        return 2
    except ApiError as exc:
        print(f"{prog}: error: {exc.message or exc.code} ({exc.status} {exc.code})", file=err)
        for hint in _hints(exc, args, url):
            print(f"  {hint}", file=err)
        return 1
    except Unreachable as exc:
        print(f"{prog}: error: {exc}", file=err)
        print(f"  is the origin running there? pass --url or set {URL_ENV}", file=err)
        return 1


async def _run(args: argparse.Namespace, url: str, key: str, out: TextIO, err: TextIO) -> int:
    async with PicoraClient(url, key) as client:
        command = Command(args, client, out, err)
        action: Callable[[], Awaitable[None]] = getattr(command, args.command)
        await action()
    return 0
