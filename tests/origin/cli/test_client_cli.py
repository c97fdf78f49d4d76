"""``picora-origin upload|list|tag|visibility|delete`` against a live origin over HTTP, like a user at a terminal.

Most tests run the parsed command in a worker thread (it makes its own event loop and real HTTP
calls while this loop serves them) with its output captured; the entry-point test runs the installed
``picora-origin`` script in a subprocess with the environment variables a user would set.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from origin.cli.client import api as client_api
from origin.cli.client.commands import human_size, run
from origin.cli.main import _parser
from tests import images
from tests.conftest import Origin
from tests.images import noise_png
from tests.servers import free_port


@dataclass
class Result:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Terminal(io.StringIO):
    """Captured stderr that says it is a terminal, as an interactive shell's would."""

    def isatty(self) -> bool:
        return True


async def cli(*argv: str, env: dict[str, str] | None = None, tty: bool = False) -> Result:
    args = _parser().parse_args(argv)
    out, err = io.StringIO(), Terminal() if tty else io.StringIO()
    status = await asyncio.to_thread(run, args, env=env or {}, out=out, err=err)
    return Result(status, out.getvalue(), err.getvalue())


@pytest.fixture
async def user(origin: Origin) -> dict[str, str]:
    """The flags (and, equally, the environment) that point the client at the live origin."""
    return {"url": str(origin.client.make_url("")).rstrip("/"), "key": await origin.user()}


def flags(user: dict[str, str]) -> list[str]:
    return ["--url", user["url"], "--key", user["key"]]


async def test_an_image_through_its_whole_life(origin: Origin, user: dict[str, str], tmp_path: Path) -> None:
    photo = tmp_path / "cat.png"
    photo.write_bytes(images.png())
    uploaded = await cli("upload", str(photo), "--private", "--tag", "Pets", "--tag", " cats ", *flags(user))
    assert uploaded.status == 0, uploaded.err
    first, url = uploaded.out.strip().splitlines()
    image_id = first.split(": ", 1)[1].split()[0]
    assert first.startswith("uploaded cat.png: ")
    assert "private" in first
    assert "pets,cats" in first
    assert url == f"https://media.picora.test/{image_id}.png"
    served = await origin.client.get(f"/{image_id}.png")
    assert served.status == 401  # private, as asked

    listed = await cli("list", *flags(user))
    assert listed.status == 0
    assert [line.split()[0] for line in listed.out.splitlines()] == [image_id]

    tagged = await cli("tag", image_id, "travel", "Road  Trip", *flags(user))
    assert (tagged.status, tagged.out.strip()) == (0, f"{image_id} tags: travel, road trip")
    shown = await cli("visibility", url, "public", *flags(user))  # a media URL names the image too
    assert (shown.status, shown.out.strip()) == (0, f"{image_id} is now public")
    assert (await origin.client.get(f"/{image_id}.png")).status == 200
    cleared = await cli("tag", f"{image_id}.png", "--clear", *flags(user))
    assert cleared.out.strip() == f"{image_id} tags: (none)"

    deleted = await cli("delete", image_id, *flags(user))
    assert (deleted.status, deleted.out.strip()) == (0, f"deleted {image_id}")
    again = await cli("delete", image_id, *flags(user))
    assert again.status == 1
    assert "404 NOT_FOUND" in again.err
    assert f"no image {image_id} in your account" in again.err
    empty = await cli("list", *flags(user))
    assert (empty.status, empty.out, empty.err.strip()) == (0, "", "no images yet")


async def test_json_output_is_what_the_api_returned(origin: Origin, user: dict[str, str], tmp_path: Path) -> None:
    photo = tmp_path / "café ☕.jpg"  # a name that needs RFC 5987 encoding in the form
    photo.write_bytes(images.jpeg())
    uploaded = (await cli("upload", str(photo), "--json", *flags(user))).json()
    response = await origin.client.get(f"/v1/images/{uploaded['id']}", headers=origin.auth(user["key"]))
    assert uploaded == (await response.json())["data"]
    assert uploaded["filename"] == "café ☕.jpg"
    listed = (await cli("list", "--json", *flags(user))).json()
    assert listed == [uploaded]
    changed = (await cli("visibility", uploaded["id"], "private", "--json", *flags(user))).json()
    assert changed == {**uploaded, "isPublic": False}
    deleted = (await cli("delete", uploaded["id"], "--json", *flags(user))).json()
    assert deleted == {"id": uploaded["id"], "deleted": True}


async def test_list_walks_every_page_and_filters_by_tag(
    origin: Origin, user: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_api, "PAGE_LIMIT", 2)
    ids = [
        (await origin.upload_ok(user["key"], images.png(), tags='["odd"]' if i % 2 else "[]"))["id"] for i in range(5)
    ]
    listed = await cli("list", *flags(user))
    assert [line.split()[0] for line in listed.out.splitlines()] == ids[::-1]
    odd = await cli("list", "--tag", "ODD", *flags(user))
    assert [line.split()[0] for line in odd.out.splitlines()] == [ids[3], ids[1]]
    none = await cli("list", "--tag", "missing", *flags(user))
    assert (none.out, none.err.strip()) == ("", "no images tagged 'missing'")


async def test_url_and_key_come_from_the_environment_and_flags_win(origin: Origin, user: dict[str, str]) -> None:
    env = {"PICORA_API_URL": user["url"], "PICORA_API_KEY": user["key"]}
    assert (await cli("list", env=env)).status == 0
    refused = await cli("list", "--key", "sk_live_" + "0" * 32, env=env)
    assert refused.status == 1
    assert "401 INVALID_TOKEN" in refused.err
    assert "check --key or $PICORA_API_KEY" in refused.err
    elsewhere = await cli("list", "--url", f"http://127.0.0.1:{free_port()}", env=env)
    assert elsewhere.status == 1
    assert "cannot reach" in elsewhere.err
    assert "is the origin running there?" in elsewhere.err


async def test_usage_mistakes_exit_2_before_any_request(user: dict[str, str], tmp_path: Path) -> None:
    no_key = await cli("list", "--url", user["url"])
    assert no_key.status == 2
    assert "no API key: pass --key or set PICORA_API_KEY" in no_key.err
    bad_url = await cli("list", "--url", "ftp://example.org", "--key", user["key"])
    assert bad_url.status == 2
    assert "must be http(s)://" in bad_url.err
    missing = await cli("upload", str(tmp_path / "nope.jpg"), *flags(user))
    assert missing.status == 2
    assert "no such file" in missing.err
    directory = await cli("upload", str(tmp_path), *flags(user))
    assert directory.status == 2
    assert "not a file" in directory.err
    not_an_id = await cli("delete", "photo", *flags(user))
    assert not_an_id.status == 2
    assert "not an image id: 'photo'" in not_an_id.err
    no_tags = await cli("tag", "xK9mR2pQ7vB", *flags(user))
    assert no_tags.status == 2
    assert "--clear" in no_tags.err
    with pytest.raises(SystemExit) as exited:
        _parser().parse_args(["visibility", "xK9mR2pQ7vB", "hidden"])
    assert exited.value.code == 2


async def test_refusals_explain_themselves(origin: Origin, tmp_path: Path) -> None:
    base = str(origin.client.make_url("")).rstrip("/")
    key = await origin.user(plan="tiny")  # 200 KB per file, 300 KB in all
    auth = ["--url", base, "--key", key]
    big = tmp_path / "big.png"
    big.write_bytes(noise_png(300, 1))
    too_big = await cli("upload", str(big), *auth)
    assert too_big.status == 1
    size = human_size(big.stat().st_size)
    assert "413 PAYLOAD_TOO_LARGE" in too_big.err
    assert f"big.png is {size}; your plan allows 195.3 KiB per file" in too_big.err
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    refused = await cli("upload", str(text), *auth)
    assert "415 UNSUPPORTED_MEDIA_TYPE" in refused.err
    assert "accepted formats: jpeg, png" in refused.err
    fits = tmp_path / "fits.png"
    fits.write_bytes(noise_png(250, 2))
    assert (await cli("upload", str(fits), *auth)).status == 0
    over = await cli("upload", str(fits), *auth)
    assert "403 QUOTA_EXCEEDED" in over.err
    assert "delete images to make room" in over.err
    bad_tag = await cli("upload", str(fits), "--tag", "x" * 40, *auth)
    assert "400 INVALID_TAGS" in bad_tag.err
    assert "1 to 32 characters" in bad_tag.err
    wrong_place = await cli("list", "--url", f"{base}/healthz", "--key", key)
    assert wrong_place.status == 1
    assert "the origin's base URL?" in wrong_place.err


async def test_large_uploads_show_progress_on_a_terminal(user: dict[str, str], tmp_path: Path) -> None:
    large = tmp_path / "large.png"
    large.write_bytes(noise_png(620, 3))  # ~1.1 MiB
    shown = await cli("upload", str(large), *flags(user), tty=True)
    assert shown.status == 0, shown.err
    assert shown.err.startswith("\rlarge.png [")
    assert shown.err.endswith("] 100%  1.1 MiB/1.1 MiB\n")
    piped = await cli("upload", str(large), *flags(user))  # not a terminal: no bar unless asked
    assert piped.err == ""
    asked = await cli("upload", str(large), "--progress", *flags(user))
    assert "100%" in asked.err
    small = tmp_path / "small.png"
    small.write_bytes(images.png())
    assert (await cli("upload", str(small), *flags(user), tty=True)).err == ""
    assert (await cli("upload", str(large), "--no-progress", *flags(user), tty=True)).err == ""


async def test_the_installed_command_reads_its_environment(user: dict[str, str], tmp_path: Path) -> None:
    photo = tmp_path / "photo.gif"
    photo.write_bytes(images.animated_gif())
    env = {**os.environ, "PICORA_API_URL": user["url"], "PICORA_API_KEY": user["key"]}
    script = Path(sys.executable).with_name("picora-origin")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "origin.cli.main"]

    async def picora(*argv: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *command, *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    status, out, err = await picora("upload", str(photo), "--tag", "anim")
    assert status == 0, err
    image_id = out.splitlines()[0].split(": ", 1)[1].split()[0]
    status, out, _ = await picora("list", "--tag", "anim")
    assert (status, out.split()[0]) == (0, image_id)
