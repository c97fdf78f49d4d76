"""What an operator trips over at the command line, run as an operator runs it (real subprocesses,
the embedded Redis, real sockets): key commands and gc from another directory, a port already
taken, output into a closed pipe, ``--help``, and a CDN setting that would be ignored."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from origin.cli.main import _parser
from tests import images
from tests.conftest import Origin
from tests.processes import CLI, Server
from tests.servers import free_port


def _env(**extra: str) -> dict[str, str]:
    """The environment of a shell with no ``PICORA_*`` set: the defaults, as on a fresh clone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")} | extra


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    """Where the server runs with the default data directory (``./data``), like ``make run``."""
    directory = tmp_path / "checkout"
    directory.mkdir()
    return directory


def test_key_commands_and_gc_from_another_directory_act_on_the_servers_redis_or_refuse(
    server_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(PICORA_PORT=str(free_port()))
    server = Server(env, cwd=server_dir)
    try:
        dev_key = server.wait_for(r"(sk_live_[A-Za-z0-9]{32})").group(1)
        server.wait_healthy()
        usage = f"{server.base}/v1/usage"

        # From another directory the default ./data is another directory: refuse, create nothing.
        for command in (["keys", "create", "--user", "bob"], ["keys", "revoke", dev_key], ["gc"]):
            refused = _cli(*command, env=env, cwd=elsewhere)
            assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
            assert refused.stdout == ""
            message = refused.stderr.strip()
            assert "\n" not in message, message
            assert "Traceback" not in message, message
            assert str(elsewhere / "data") in message, message
            assert "PICORA_DATA_DIR" in message, message
            assert "PICORA_REDIS_URL" in message, message
        assert not (elsewhere / "data").exists(), "an empty data directory was created"
        assert requests.get(usage, headers={"Authorization": f"Bearer {dev_key}"}, timeout=5).status_code == 200

        # Pointed at the server's data directory, from anywhere, they act on the server's Redis.
        pointed = env | {"PICORA_DATA_DIR": str(server_dir / "data")}
        created = _cli("keys", "create", "--user", "bob", env=pointed, cwd=elsewhere)
        assert created.returncode == 0, created.stderr
        bob = {"Authorization": f"Bearer {created.stdout.strip()}"}
        assert requests.get(usage, headers=bob, timeout=5).status_code == 200
        assert _cli("keys", "revoke", created.stdout.strip(), env=pointed, cwd=elsewhere).returncode == 0
        assert requests.get(usage, headers=bob, timeout=5).status_code == 401
        collected = _cli("gc", env=pointed, cwd=elsewhere)
        assert collected.returncode == 0, collected.stderr
        assert '"reservations_released": 0' in collected.stdout
        # And from the server's own directory, with the defaults, as the README shows.
        assert _cli("keys", "create", "--user", "carol", env=env, cwd=server_dir).returncode == 0
    finally:
        assert server.stop() == 0
    assert not (elsewhere / "data").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_on_a_taken_port_fails_at_once_with_one_line(server_dir: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(PICORA_PORT=str(port), PICORA_WORKERS=workers)
        started = time.monotonic()
        second = subprocess.run(
            [*CLI, "serve"], env=env, cwd=server_dir, capture_output=True, text=True, timeout=30, check=False
        )
        elapsed = time.monotonic() - started
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert elapsed < 10, f"took {elapsed:.1f}s to give up"  # the interpreter start alone is ~2 s on a busy machine
    assert "Upload an image" not in second.stdout  # no banner as if it had started
    assert "Traceback" not in second.stderr + second.stdout
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0], lines
    assert "PICORA_PORT" in lines[0], lines
    assert "--port" in lines[0], lines
    assert not (server_dir / "data").exists(), "nothing should have started"


async def test_a_listing_into_a_closed_pipe_ends_quietly(origin: Origin) -> None:
    """``picora-origin list --json | head -1``: head exits after one line; the pipe is closed."""
    key = await origin.user()
    for n in range(3):
        await origin.upload_ok(key, images.png(size=(40 + n, 30)))
    url = str(origin.client.make_url("")).rstrip("/")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write: every write fails with EPIPE
    try:
        process = await asyncio.create_subprocess_exec(
            *CLI, "list", "--json", "--url", url, "--key", key,
            stdout=write_end, stderr=asyncio.subprocess.PIPE, env=_env(),
        )  # fmt: skip
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert err.decode() == "", err.decode()
    assert process.returncode in (0, 141), process.returncode  # 141 = 128 + SIGPIPE, what a shell reports


def test_help_is_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shown = _cli("--help", env=_env(), cwd=tmp_path)  # the installed entry point, once
    assert shown.returncode == 0, shown.stderr
    assert "serve the media origin" in shown.stdout
    texts = [shown.stdout]
    for command in (["serve"], ["keys"], ["keys", "create"], ["gc"], ["list"], ["upload"]):
        with pytest.raises(SystemExit):
            _parser().parse_args([*command, "--help"])
        texts.append(capsys.readouterr().out)
    for text in texts:
        assert "``" not in text, text
        assert ":func:`" not in text, text


def test_a_cdn_setting_that_would_be_ignored_is_refused_at_start_with_the_other_errors(tmp_path: Path) -> None:
    env = _env(PICORA_CDN_PURGE_URL="https://cdn.example/purge", PICORA_PORT="x")
    result = _cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "PICORA_CDN_PURGE_URL is set but PICORA_CDN_PURGE is 'none'" in result.stderr
    assert "port:" in result.stderr
    assert "Traceback" not in result.stderr
