"""The tables printed at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios import Scenario
from wrk import WrkResult


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def scenario_table(scenarios: Sequence[Scenario]) -> str:
    header = (
        "scenario", "origin req/s", "nginx req/s", "origin/nginx", "target", "result", "bare req/s", "bare/nginx",
        "origin/bare", "origin p99", "nginx p99", "bare p99", "origin CPU/req", "nginx CPU/req", "bare CPU/req",
    )  # fmt: skip
    rows = [header]

    def ratio(a: WrkResult | None, b: WrkResult | None) -> str:
        return f"{a.rps / b.rps:.2f}x" if a is not None and b is not None and b.rps else "-"

    for s in scenarios:
        origin, nginx, bare = s.best("origin"), s.best("nginx"), s.best_bare()
        target = s.target
        verdict = "-" if target is None else ("PASS" if nginx.rps and origin.rps / nginx.rps >= target else "FAIL")
        rows.append((
            s.title, fmt_rps(origin.rps), fmt_rps(nginx.rps), ratio(origin, nginx),
            "-" if target is None else f">= {target:.2f}x", verdict,
            fmt_rps(bare.rps) if bare else "-", ratio(bare, nginx), ratio(origin, bare),
            f"{origin.p99_ms:.2f} ms", f"{nginx.p99_ms:.2f} ms", f"{bare.p99_ms:.2f} ms" if bare else "-",
            f"{origin.cpu_us_per_request:.0f} us", f"{nginx.cpu_us_per_request:.0f} us",
            f"{bare.cpu_us_per_request:.0f} us" if bare else "-",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def cold_report(scenario: Scenario) -> str:
    s3 = [r["S3 GETs"] for r in scenario.per_request]
    lookups = [r["Redis GET+HGETALL"] / 2 for r in scenario.per_request]
    return (
        f"    {scenario.key} origin: PICORA_CACHE_BYTES=0, PICORA_METADATA_TTL=0; per request, over the rounds: "
        f"S3 GETs {min(s3):.2f}-{max(s3):.2f}, Redis metadata lookups (GET+HGETALL) {min(lookups):.2f}-"
        f"{max(lookups):.2f}\n"
        "    (fewer lookups than requests: concurrent misses for one id share a lookup through single-flight)"
    )
