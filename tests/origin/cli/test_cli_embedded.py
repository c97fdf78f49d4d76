"""``make run``'s path: embedded Redis and filesystem storage, the printed curl line, keys, restarts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import images
from tests.processes import CLI, Server
from tests.servers import free_port


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    env |= {"PICORA_DATA_DIR": str(tmp_path / "data"), "PICORA_PORT": str(free_port())}
    yield env
    # Never leave an embedded redis-server behind, even when a test fails midway.
    subprocess.run(["pkill", "-f", str(tmp_path / "data" / "redis")], check=False)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_first_start_prints_a_dev_key_and_a_curl_line_that_works(embedded_env: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is required (.ci/run installs it)")
    server = Server(embedded_env)
    try:
        key = server.wait_for(r"(sk_live_[A-Za-z0-9]{32})").group(1)
        curl_line = server.wait_for(r"^\s*(curl .*)$").group(1)
        assert key in curl_line
        server.wait_healthy()
        (tmp_path / "photo.jpg").write_bytes(images.jpeg())
        pasted = subprocess.run(
            shlex.split(curl_line), cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False
        )
        assert pasted.returncode == 0, pasted.stderr
        assert '"success":true' in pasted.stdout
        image_url = re.search(r'"url":"([^"]+)"', pasted.stdout)
        assert image_url is not None
        assert image_url.group(1).startswith(f"http://localhost:{server.port}/")
        served = requests.get(image_url.group(1).replace("localhost", "127.0.0.1"), timeout=5)
        assert served.status_code == 200
        assert served.content == images.jpeg()
    finally:
        assert server.stop() == 0


def test_data_survives_a_restart_and_keys_can_be_managed_while_running(embedded_env: dict[str, str]) -> None:
    server = Server(embedded_env)
    try:
        dev_key = server.wait_for(r"(sk_live_[A-Za-z0-9]{32})").group(1)
        server.wait_healthy()
        # keys create works against the running server's embedded Redis.
        created = _cli(embedded_env, "keys", "create", "--user", "bob", "--plan", "pro")
        assert created.returncode == 0, created.stderr
        bob_key = created.stdout.strip()
        assert re.fullmatch(r"sk_live_[A-Za-z0-9]{32}", bob_key)
        usage = requests.get(f"{server.base}/v1/usage", headers={"Authorization": f"Bearer {bob_key}"}, timeout=5)
        assert usage.json()["data"]["plan"] == "pro"
        upload = requests.post(
            f"{server.base}/v1/images",
            headers={"Authorization": f"Bearer {dev_key}"},
            files={"file": ("a.png", images.png())},
            data={"isPublic": "false", "tags": '["kept"]'},
            timeout=10,
        )
        assert upload.status_code == 201, upload.text
        image_id = upload.json()["data"]["id"]
        revoked = _cli(embedded_env, "keys", "revoke", bob_key)
        assert revoked.returncode == 0
        assert (
            requests.get(
                f"{server.base}/v1/usage", headers={"Authorization": f"Bearer {bob_key}"}, timeout=5
            ).status_code
            == 401
        )
        assert _cli(embedded_env, "keys", "revoke", bob_key).returncode == 1
    finally:
        assert server.stop() == 0

    restarted = Server(embedded_env)
    try:
        restarted.wait_for(r"User 'dev' exists")
        restarted.wait_healthy()
        auth = {"Authorization": f"Bearer {dev_key}"}
        served = requests.get(f"{restarted.base}/{image_id}.png", headers=auth, timeout=5)
        assert served.status_code == 200
        assert served.content == images.png()
        listing = requests.get(f"{restarted.base}/v1/images?tag=kept", headers=auth, timeout=5).json()
        assert [item["id"] for item in listing["data"]["items"]] == [image_id]
    finally:
        assert restarted.stop() == 0


def test_keys_create_without_a_running_server_starts_and_stops_the_embedded_redis(
    embedded_env: dict[str, str],
) -> None:
    data_dir = Path(embedded_env["PICORA_DATA_DIR"])
    # Before the server ever ran there is no embedded Redis to act on: refused, nothing created.
    assert _cli(embedded_env, "keys", "create", "--user", "carol").returncode == 2
    assert not data_dir.exists()
    server = Server(embedded_env)
    server.wait_healthy()
    assert server.stop() == 0
    created = _cli(embedded_env, "keys", "create", "--user", "carol")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("sk_live_")
    socket = Path(embedded_env["PICORA_DATA_DIR"]) / "redis" / "redis.sock"
    leftover = subprocess.run(["pgrep", "-f", str(socket.parent)], capture_output=True, check=False)
    assert leftover.returncode == 1, "embedded redis left running"
    assert _cli(embedded_env, "keys", "create", "--user", "bad user!").returncode == 2
    assert _cli(embedded_env, "keys", "create", "--user", "dave", "--plan", "nope").returncode == 2


def test_invalid_configuration_is_reported_whole_and_exits_2(embedded_env: dict[str, str]) -> None:
    env = embedded_env | {"PICORA_PORT": "x", "PICORA_STORAGE": "tape"}
    result = subprocess.run([*CLI, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "storage" in result.stderr


def test_workers_share_the_port_and_stop_together(embedded_env: dict[str, str]) -> None:
    env = embedded_env | {"PICORA_WORKERS": "2", "PICORA_ACCESS_LOG": "off"}
    server = Server(env)
    try:
        dev_key = server.wait_for(r"(sk_live_[A-Za-z0-9]{32})").group(1)
        server.wait_healthy()
        children = subprocess.run(
            ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2
        upload = requests.post(
            f"{server.base}/v1/images",
            headers={"Authorization": f"Bearer {dev_key}"},
            files={"file": ("a.png", images.png())},
            timeout=10,
        )
        assert upload.status_code == 201
        image_id = upload.json()["data"]["id"]
        # Fresh connections are spread over the workers by the kernel; all must serve the image.
        for _ in range(20):
            assert requests.get(f"{server.base}/{image_id}.png", timeout=5).content == images.png()
    finally:
        assert server.stop() == 0
    socket = Path(env["PICORA_DATA_DIR"]) / "redis"
    assert subprocess.run(["pgrep", "-f", str(socket)], capture_output=True, check=False).returncode == 1
