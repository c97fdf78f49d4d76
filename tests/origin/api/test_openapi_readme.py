"""The README's curl lines, run as written against a live origin, every answer checked against the document.

Only the placeholders change: ``KEY`` and ``API`` come from the test, and a line like
``ID=xK9mR2pQ7vB   # the "id" in that answer`` takes that field of the previous answer, as a reader
would fill it in. Together the lines must cover every operation the
OpenAPI document describes, so a new endpoint needs its example.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config import Settings
from config.purge import PurgeSettings
from config.settings import with_overrides
from tests import images
from tests.conftest import AiohttpClient, start_origin
from tests.spec_validation import Contract

README = Path(__file__).resolve().parents[3] / "README.md"
PURGE_SECRET = "readme-purge-secret-" + "x" * 16
PLACEHOLDER = re.compile(r'^(?P<name>[A-Z_]+)=\S+\s+# the "(?P<field>\w+)" in that answer$')
#: ``curl`` as the README writes it, plus what the test needs to read the answer.
CAPTURE = """
curl() {
  command curl -sS -o "$CAPTURE/body" -D "$CAPTURE/headers" \\
    -w '%{http_code} %{method} %{url_effective}' "$@" > "$CAPTURE/meta"
}
set -a
"""


def readme_lines() -> list[str]:
    """The commands of the first ``sh`` block in the API section (comments and blank lines dropped)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## API\n") :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the API section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _last_headers(raw: str) -> dict[str, str]:
    """The headers of the final response (curl also records ``100 Continue``)."""
    final = [block for block in re.split(r"\r?\n\r?\n", raw.strip()) if block.startswith("HTTP/")][-1]
    pairs = (line.split(":", 1) for line in final.splitlines()[1:] if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


async def test_every_readme_curl_line_works_and_answers_as_documented(
    aiohttp_client: AiohttpClient, base_settings: Settings, tmp_path: Path
) -> None:
    if shutil.which("curl") is None or shutil.which("openssl") is None:
        pytest.fail("curl and openssl are required (.ci/run installs curl)")
    # curl keeps a Secure cookie from an http origin; the session lines need a plain one.
    sessions = replace(base_settings.access.sessions, public_url="http://127.0.0.1")
    settings = with_overrides(
        base_settings,
        purge=PurgeSettings(secrets=(PURGE_SECRET,)),
        access=replace(base_settings.access, sessions=sessions),
    )
    origin = await start_origin(aiohttp_client, settings)
    (tmp_path / "cat.heic").write_bytes(images.heic_with_location())
    capture = tmp_path / "capture"
    capture.mkdir()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "KEY": await origin.user(),
        "API": str(origin.client.make_url("")).rstrip("/"),
        "PURGE_SECRET": PURGE_SECRET,
        "CAPTURE": str(capture),
    }
    contract = Contract()
    covered: set[tuple[str, str]] = set()
    answer: dict[str, object] | None = None
    for line in readme_lines():
        if line.startswith("KEY="):
            continue  # the reader's own key and origin: the test's are in the environment
        if placeholder := PLACEHOLDER.match(line):
            assert answer is not None, f"{line}: no answer before it"
            env[placeholder["name"]] = str(answer[placeholder["field"]])
            continue
        for stale in capture.iterdir():
            stale.unlink()
        process = await asyncio.create_subprocess_exec(
            "bash", "-c", f'{CAPTURE}{line}\nenv -0 > "$CAPTURE/env"\n', env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        assert process.returncode == 0, f"{line}\n{output.decode()}"
        exported = (capture / "env").read_text().split("\0")
        assigned = set(re.findall(r"(?:^|;)\s*([A-Z_][A-Z0-9_]*)=", line))  # e.g. BODY=...; T=$(date +%s)
        for item in exported:
            name, _, value = item.partition("=")
            if name in assigned:
                env[name] = value
        if not (capture / "meta").exists():
            continue  # an assignment line
        status_text, method, url = (capture / "meta").read_text().split(" ", 2)
        status, path = int(status_text), urlsplit(url).path
        body = json.loads((capture / "body").read_text())
        headers = _last_headers((capture / "headers").read_text())
        contract.check(method, path, status, body, headers)
        assert 200 <= status < 300, f"{line}\n{status} {body}"
        covered.add((method, contract.template(path)))
        answer = body.get("data") if isinstance(body.get("data"), dict) else answer
    assert covered == contract.operations(), "operations without a README example"
