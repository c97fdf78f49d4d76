"""schemathesis against the live origin: every operation, positive and negative data, from the served document.

The run is the real ``st run`` command line in a subprocess, talking HTTP to the origin on a loopback
socket with a real API key, through all of its phases (examples, coverage, fuzzing, and stateful
sequences that follow the document's links from an upload to reads, changes and deletes).
``make test`` keeps it bounded and repeatable (a fixed seed, a few examples per operation);
``make fuzz`` raises the budget and varies the seed with ``PICORA_FUZZ_EXAMPLES`` and
``PICORA_FUZZ_SEED``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from config import Settings
from config.plans import Plan
from config.settings import with_overrides
from origin.api.openapi import SPEC_URL
from tests.conftest import AiohttpClient, start_origin
from tests.spec_validation import Contract

#: No 5xx, a documented status, the documented body, content type and headers, invalid input refused,
#: credentials never ignored, 405 with ``Allow`` for other methods, created images there and deleted
#: ones gone. Not ``positive_data_acceptance``: tags and hotlink domains are accepted or refused after
#: normalisation (trimmed, case-folded, de-duplicated), which JSON Schema cannot state exactly, so the
#: document describes their shape and a schema-valid value may still get its documented 400.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
)
#: Limits no run reaches, so 429 and 403 come only from the tests that provoke them on purpose.
FUZZ_PLAN = Plan(
    "fuzz", max_file_bytes=2 * 1024 * 1024, storage_bytes=10**12, uploads_per_minute=10**6, requests_per_minute=10**6
)
#: Signed by services with a shared secret, which a generic fuzzer cannot produce: every call it makes
#: there is (correctly) 401, and tests/origin/api/test_openapi_contract.py drives the signed answers.
SERVICE_OPERATIONS = {"POST /v1/purge"}
#: Sign-in needs a live key in its body, the other two a session: a generic fuzzer has neither, so
#: they are fuzzed for their refusals only; tests/origin/api/test_sessions_api.py checks every
#: accepted answer against the document.
SESSION_OPERATIONS = {"POST /v1/sessions", "GET /v1/sessions/current", "DELETE /v1/sessions/current"}


async def test_schemathesis_finds_no_failures(
    aiohttp_client: AiohttpClient, base_settings: Settings, tmp_path: Path
) -> None:
    settings = with_overrides(base_settings, plans={**base_settings.plans, "fuzz": FUZZ_PLAN})
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user(plan="fuzz")
    base = str(origin.client.make_url("")).rstrip("/")
    examples = int(os.environ.get("PICORA_FUZZ_EXAMPLES", "8"))
    seed = os.environ.get("PICORA_FUZZ_SEED", "20261129")
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}{SPEC_URL}",
        "--url", base,
        "--header", f"Authorization: Bearer {key}",
        "--checks", ",".join(CHECKS),
        "--mode", "all",
        "--max-examples", str(examples),
        "--seed", seed,
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "10",
        "--no-color",
        "--report", "json",
        "--report-json-path", str(report),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120 + 10 * examples)
    text = output.decode(errors="replace")
    print(text)  # shown by `make fuzz` (pytest -s) and on failure
    assert process.returncode == 0, text

    summary = json.loads(report.read_text())
    # schemathesis leaves out the operation that served it the document; the contract tests check that one.
    fuzzed = {f"{method} {path}" for method, path in Contract().operations()} - {f"GET {SPEC_URL}"}
    assert summary["operations"] == {
        "total": len(fuzzed), "selected": len(fuzzed), "tested": len(fuzzed),
        "errored": 0, "skipped": 0, "skip_reasons": [],
    }  # fmt: skip
    assert summary["test_cases"]["with_failures"] == summary["test_cases"]["errored"] == 0
    # Every user operation got past validation at least once: the happy paths were exercised too.
    accepted = {
        operation: sum(phase["accepted"] for phase in phases.values())
        for operation, phases in summary["valid_rates"].items()
    }
    assert {op for op in fuzzed - SERVICE_OPERATIONS - SESSION_OPERATIONS if not accepted.get(op)} == set(), accepted
