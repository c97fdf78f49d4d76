"""The tables printed at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence

from scenarios import Scenario
from wrk import WrkResult


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first row is the header, the first column left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def scenario_table(scenarios: Sequence[Scenario]) -> str:
    """One row per scenario; origin/bare first (issue 16's measure), nginx after it for reference."""
    header = (
        "scenario", "origin req/s", "bare req/s", "origin/bare", "target", "result", "nginx req/s", "origin/nginx",
        "bare/nginx", "origin p99", "bare p99", "nginx p99", "origin CPU/req", "bare CPU/req", "nginx CPU/req",
    )  # fmt: skip
    rows: list[Sequence[str]] = [header]

    def ratio(a: WrkResult | None, b: WrkResult | None) -> str:
        return f"{a.rps / b.rps:.2f}x" if a is not None and b is not None and b.rps else "-"

    for s in scenarios:
        origin, nginx, bare = s.best("origin"), s.best("nginx"), s.best_bare()
        target = s.target
        if target is None or bare is None:
            verdict = "-"
        else:
            verdict = "PASS" if bare.rps and origin.rps / bare.rps >= target else "FAIL"
        rows.append((
            s.title, fmt_rps(origin.rps), fmt_rps(bare.rps) if bare else "-",
            ratio(origin, bare) if s.bare is not None else "n/a (*)",
            "-" if target is None else f">= {target:.2f}x", verdict,
            fmt_rps(nginx.rps), ratio(origin, nginx), ratio(bare, nginx),
            f"{origin.p99_ms:.2f} ms", f"{bare.p99_ms:.2f} ms" if bare else "-", f"{nginx.p99_ms:.2f} ms",
            f"{origin.cpu_us_per_request:.0f} us", f"{bare.cpu_us_per_request:.0f} us" if bare else "-",
            f"{nginx.cpu_us_per_request:.0f} us",
        ))  # fmt: skip
    return table(rows)


def cold_report(scenario: Scenario) -> str:
    s3 = [r["S3 GETs"] for r in scenario.per_request]
    lookups = [r["Redis GET+HGETALL"] / 2 for r in scenario.per_request]
    return (
        f"    {scenario.key} origin: PICORA_CACHE_BYTES=0, PICORA_METADATA_TTL=0; per request, over the rounds: "
        f"S3 GETs {min(s3):.2f}-{max(s3):.2f}, Redis metadata lookups (GET+HGETALL) {min(lookups):.2f}-"
        f"{max(lookups):.2f}\n"
        "    (fewer lookups than requests: concurrent misses for one id share a lookup through single-flight)"
    )


def variant_line(scenarios: Sequence[Scenario]) -> str:
    """Issue 12's comparison: the warm w=320 variant hit against its original's hit, on the origin."""
    found = {s.key: s for s in scenarios}
    if "variant-320" not in found or "hit-12mp" not in found:
        return ""
    variant, original = found["variant-320"].best("origin"), found["hit-12mp"].best("origin")
    return (
        f"Warm variant hit: w=320 WebP {variant.rps:,.0f} req/s against the original's hit {original.rps:,.0f} req/s "
        f"({variant.rps / original.rps:.2f}x) on the origin, best rounds"
        if original.rps
        else ""
    )
