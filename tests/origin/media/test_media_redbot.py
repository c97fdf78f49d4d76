"""REDbot (the HTTP linter behind redbot.org) checks the media path over a real socket: headers,
caching, and its own Range, If-None-Match, If-Modified-Since and content-negotiation probes.

REDbot runs on its own event loop (thor), so it runs in a child process while this test's loop
serves it; the child prints what REDbot found as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from yarl import URL

from config import Settings
from config.settings import with_overrides
from tests.conftest import AiohttpClient, start_origin
from tests.images import noise_png

REDBOT = r"""
import json, sys
from configparser import ConfigParser

import thor
from redbot.resource import HttpResource

parser = ConfigParser()
parser.read_dict({"redbot": {"enable_local_access": "True"}})  # loopback is the point here
resources = {}
for url, headers in json.loads(sys.argv[1]):
    resource = resources[url] = HttpResource(parser["redbot"], descend=False)
    resource.set_request(url, headers=list(headers.items()))
    resource.on("check_done", lambda: all(r.check_done for r in resources.values()) and thor.stop())
for resource in resources.values():
    resource.check()
thor.run()


def notes(fetcher):
    found = []

    def walk(note):
        found.append({"id": type(note).__name__, "level": note.level.name, "summary": str(note.summary)})
        for child in note.subnotes:
            walk(child)

    for note in fetcher.response.notes:
        walk(note)
    return found


def report(resource):
    error = resource.fetch_error
    return {
        "status": resource.response.status_code,
        "error": None if error is None else f"{error.desc} {error.detail or ''}",
        "notes": notes(resource),
        "probes": {
            name: {"status": probe.response.status_code, "notes": notes(probe)}
            for name, probe in resource.subreqs.items()
        },
    }


print(json.dumps({url: report(resource) for url, resource in resources.items()}))
"""

#: Notes at WARN or BAD accepted on purpose, each with its reason; everything else at WARN or BAD
#: fails the test. None today: public images no longer say ``public`` beside ``s-maxage``
#: (STORE_PUBLIC_UNNECESSARY), since s-maxage alone makes them storable by shared caches, even for a
#: request that carried credentials (RFC 9111 sections 3 and 3.5).
ACCEPTED: dict[str, str] = {}
#: The levels that fail the test (REDbot's WARN and above).
FAILING_LEVELS = ("WARN", "BAD")


async def run_redbot(targets: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """REDbot's report for each (url, request headers), all checked at once by one child process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", REDBOT, json.dumps(targets),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode(errors="replace")[-4000:]
    return dict(json.loads(out))


def complaints(report: dict[str, Any]) -> list[str]:
    found = [(None, note) for note in report["notes"]]
    found += [(name, note) for name, probe in report["probes"].items() for note in probe["notes"]]
    return sorted(
        {
            f"{name or 'main'}: {note['level']} {note['id']}: {note['summary']}"
            for name, note in found
            if note["level"] in FAILING_LEVELS and note["id"] not in ACCEPTED
        }
    )


async def test_redbot_finds_nothing_wrong_with_public_private_signed_and_streamed_images(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, cache_max_object_bytes=64 * 1024))
    owner = await origin.user()
    targets: dict[str, tuple[str, dict[str, str]]] = {}
    for name, side, is_public in (("public", 40, "true"), ("private", 40, "false"), ("streamed", 320, "true")):
        uploaded = await origin.upload_ok(owner, noise_png(side), isPublic=is_public)
        url = str(origin.client.make_url(f"/{uploaded['id']}.png"))
        targets[name] = (url, {} if is_public == "true" else origin.auth(owner))
        if name == "private":
            signed = await origin.client.post(
                f"/v1/images/{uploaded['id']}/signed-url", json={"expiresIn": 600}, headers=origin.auth(owner)
            )
            signed_url = URL((await signed.json())["data"]["url"])
            targets["signed"] = (str(origin.client.make_url(signed_url.path).with_query(signed_url.query)), {})
    reports = await run_redbot(list(targets.values()))
    for name, (url, _) in targets.items():
        report = reports[url]
        assert (name, report["error"], report["status"]) == (name, None, 200)
        assert (name, complaints(report)) == (name, [])
        # REDbot's probes ran and found what they expect, not merely nothing to complain about.
        assert {probe: found["status"] for probe, found in report["probes"].items()} == {
            "conneg": 200, "range": 206, "etag_validate": 304, "lm_validate": 304,
        }, name  # fmt: skip
        assert {"RANGE_CORRECT", "INM_304", "IMS_304", "CL_CORRECT"} <= {note["id"] for note in report["notes"]}, name
