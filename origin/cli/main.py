"""``picora-origin``: serve, manage API keys, collect garbage, and use the API as a client."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import http_writer, web

from auth.api_keys import InvalidUser, KeyStore
from config import Settings, SettingsError, load_settings
from config.settings import with_overrides
from origin.app import create_app, storage_context
from origin.app_keys import KEYS, METRICS, SETTINGS, STORAGE
from origin.cli.client import commands as client_commands
from origin.cli.dev_bootstrap import bootstrap_dev_user
from origin.images.gc import collect_garbage
from origin.redis.client import open_redis
from origin.redis.embedded import EmbeddedRedis
from origin.web.logs import AccessLogger, configure_logging
from origin.web.metrics import MULTIPROC_ENV, Metrics

#: What ``--help`` says: plain text (the module docstring's reST markup would show raw).
DESCRIPTION = "picora-origin: serve the media origin, manage API keys, collect garbage, and use the API as a client."
#: Exit status of a command whose output pipe was closed (``| head``): 128 + SIGPIPE, as a shell reports it.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


class CannotListen(Exception):
    """The port cannot be had; the message says which and what to do."""


def _check_port(host: str, port: int) -> None:
    """Bind every address ``host`` stands for, then let go: a taken port is found before anything
    starts. ``web.run_app`` would first run the start-up (printing the banner) and fail only later."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}; set PICORA_HOST or --host") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise _cannot_listen(host, port, exc) from exc


def _cannot_listen(host: str, port: int, exc: OSError) -> CannotListen:
    if exc.errno == errno.EADDRINUSE:
        return CannotListen(
            f"port {port} on {host} is already in use (another picora-origin?); "
            f"choose another with PICORA_PORT={port + 1} or serve --port {port + 1}"
        )
    return CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}; choose another with PICORA_PORT or --port")


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: a faster event loop for the same code."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    _send_head_and_body_as_they_are()
    return uvloop.new_event_loop()


def _send_head_and_body_as_they_are() -> None:
    """On Python before 3.12.9 aiohttp joins a response's head and body into one new buffer before
    writing, because asyncio's own transports had a flaw in ``writelines`` there (CVE-2024-12254).
    uvloop's transports do not share it: they hand both buffers to one ``writev``. So on uvloop a
    response leaves as aiohttp sends it on newer Pythons, and a cached image is no longer copied once
    per response. Measured (bench/run.py --instructions hit-50k, one connection): 258.0k -> 207.1k
    instructions per 50 KB hit; callgrind counts a large memcpy at about one instruction per byte,
    so the CPU it saves is smaller than that (bench/README.md)."""
    http_writer.SKIP_WRITELINES = False


def _run_worker(settings: Settings, *, reuse_port: bool, bootstrap: bool) -> None:
    app = create_app(settings)
    if bootstrap:
        app.on_startup.append(bootstrap_dev_user)
    configure_logging(settings.log_format)
    try:
        _run_app(app, settings, reuse_port=reuse_port)
    except OSError as exc:  # the port was taken between the check and the bind
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise _cannot_listen(settings.host, settings.port, exc) from exc


def _run_app(app: web.Application, settings: Settings, *, reuse_port: bool) -> None:
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port or None,
        backlog=1024,  # aiohttp's 128 overflows when a CDN opens hundreds of connections at once
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        access_log_class=AccessLogger,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        keepalive_timeout=settings.keepalive_timeout_seconds,
        print=lambda line: print(line, flush=True),
        loop=_event_loop(),
    )


async def _bootstrap_once(settings: Settings) -> None:
    app = web.Application()
    app[SETTINGS] = settings
    async with open_redis(settings) as redis:
        app[KEYS] = KeyStore(redis)
        await bootstrap_dev_user(app)


def _serve(settings: Settings, *, worker: bool = False) -> int:
    """One process, or ``workers`` processes sharing the port through SO_REUSEPORT."""
    if not worker:  # a worker's siblings hold the port already (SO_REUSEPORT); its parent checked
        _check_port(settings.host, settings.port)
    if settings.workers == 1:
        _run_worker(settings, reuse_port=worker, bootstrap=settings.redis_url is None and not worker)
        return 0
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        # One embedded server for all workers, owned by this parent process.
        embedded = EmbeddedRedis(settings.redis_dir)
        settings = with_overrides(settings, redis_url=embedded.start())
        asyncio.run(_bootstrap_once(settings))
    # Workers are fresh interpreters (not forks), started with PROMETHEUS_MULTIPROC_DIR already set:
    # prometheus-client picks its shared-file mode when it is first imported.
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {
        **os.environ,
        MULTIPROC_ENV: str(metrics_dir.resolve()),
        "PICORA_REDIS_URL": settings.redis_url or "",
        "PICORA_HOST": settings.host,
        "PICORA_PORT": str(settings.port),
        "PICORA_WORKERS": "1",
    }
    command = [sys.executable, "-m", "origin.cli.main", "serve", "--worker"]
    workers = [subprocess.Popen(command, env=env) for _ in range(settings.workers)]  # noqa: S603

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        if embedded is not None:
            embedded.stop()
    return max(codes)


def _redis_problem(settings: Settings, command: str) -> str | None:
    """Why ``command`` must not run here, if it must not: it has to act on the Redis (and storage)
    the server uses. With no ``PICORA_REDIS_URL`` that is the embedded Redis of the data directory,
    and the default data directory is relative to the current directory: from anywhere else the
    command would start a new, empty Redis and act on it (a key the server rejects, a revoke that
    revokes nothing). So it refuses where there is no embedded Redis, and never creates one."""
    data_dir = settings.data_dir.resolve()
    where = (
        f"{data_dir} (the data directory: PICORA_DATA_DIR, default ./data in the current directory)"
        if settings.data_dir == Path("./data")
        else f"{data_dir} (the data directory, PICORA_DATA_DIR)"
    )
    fix = "run it where the server runs, or set PICORA_DATA_DIR to the server's data directory"
    if settings.redis_url is None and not settings.redis_dir.is_dir():
        return (
            f"picora-origin {command}: no embedded Redis in {where}, so this is not the server's Redis; "
            f"{fix}, or PICORA_REDIS_URL to its Redis"
        )
    if command == "gc" and settings.storage == "fs" and not data_dir.is_dir():
        return f"picora-origin gc: no data directory {where}, so no stored objects to check; {fix}"
    return None


async def _keys_create(settings: Settings, user: str, plan: str | None, name: str) -> int:
    plan = plan or settings.default_plan
    if plan not in settings.plans:
        print(f"no plan named {plan!r}; plans: {', '.join(sorted(settings.plans))}", file=sys.stderr)
        return 2
    async with open_redis(settings) as redis:
        store = KeyStore(redis)
        try:
            await store.ensure_user(user, plan)
        except InvalidUser as exc:
            print(exc, file=sys.stderr)
            return 2
        print(await store.create_key(user, name))
    return 0


async def _keys_revoke(settings: Settings, api_key: str) -> int:
    async with open_redis(settings) as redis:
        if await KeyStore(redis).revoke(api_key):
            print("revoked")
            return 0
    print("no such key", file=sys.stderr)
    return 1


async def _gc(settings: Settings, grace: float) -> int:
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    async with open_redis(settings) as redis:
        context = storage_context(app)
        await anext(context)
        try:
            report = await collect_garbage(redis, app[STORAGE], grace_seconds=grace)
        finally:
            await anext(context, None)
    print(json.dumps(report.as_dict()))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picora-origin", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the origin")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="processes sharing the port (default: PICORA_WORKERS or 1)")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of several, started by serve
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create the user if needed and print a new key")
    create.add_argument("--user", required=True)
    create.add_argument("--plan")
    create.add_argument("--name", default="cli", help="shown in the key list (default: cli)")
    revoke = keys.add_parser("revoke", help="revoke a key and end every session signed in with it")
    revoke.add_argument("key")
    gc = commands.add_parser("gc", help="release abandoned reservations and delete orphan objects")
    gc.add_argument("--grace", type=float, help="seconds an upload may take (default: upload_grace_seconds)")
    client_commands.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: the exit status. Output into a closed pipe (``| head``) ends quietly."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe may only show at this last flush
    except BrokenPipeError:
        # Python's advice: point stdout at devnull so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except CannotListen as exc:
        print(f"picora-origin serve: {exc}", file=sys.stderr)
        return 1
    return status


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command in client_commands.COMMANDS:
        return client_commands.run(args)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "serve":
        pairs = (("host", args.host), ("port", args.port), ("workers", args.workers))
        overrides = {k: v for k, v in pairs if v is not None}
        if overrides.get("workers", 1) < 1:
            print("--workers must be at least 1", file=sys.stderr)
            return 2
        return _serve(with_overrides(settings, **overrides) if overrides else settings, worker=args.worker)
    command = "gc" if args.command == "gc" else f"keys {args.action}"
    if problem := _redis_problem(settings, command):
        print(problem, file=sys.stderr)
        return 2
    if args.command == "keys" and args.action == "create":
        return asyncio.run(_keys_create(settings, args.user, args.plan, args.name))
    if args.command == "keys":
        return asyncio.run(_keys_revoke(settings, args.key))
    grace = settings.upload_grace_seconds if args.grace is None else args.grace
    return asyncio.run(_gc(settings, grace))


if __name__ == "__main__":
    sys.exit(main())
