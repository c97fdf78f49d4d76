"""Warnings and errors the servers log, read incrementally so each run is checked for what it caused."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (WARNING|ERROR|CRITICAL) ")
_NGINX_RECORD = re.compile(r"\[(warn|error|crit|alert|emerg)\] ")


class LogWatch:
    """Warnings and errors that servers log, read incrementally (what each run added)."""

    def __init__(self) -> None:
        self.offsets: dict[Path, int] = {}

    def mark(self, path: Path) -> None:
        self.offsets[path] = path.stat().st_size if path.exists() else 0

    def new_events(self, path: Path) -> Counter[str]:
        """One count per logged warning/error, keyed by its message and the exception it ends with."""
        if not path.exists():
            return Counter()
        with path.open("rb") as handle:
            handle.seek(self.offsets.get(path, 0))
            data = handle.read()
        self.offsets[path] = self.offsets.get(path, 0) + len(data)
        text = data.decode(errors="replace")
        events: Counter[str] = Counter()
        record: list[str] = []

        def flush() -> None:
            if record:
                message = record[0].split(" ", 3)[-1]
                tail = [ln for ln in record[1:] if ln and not ln.startswith((" ", "Traceback", "During", "The above"))]
                events[f"{message[:100]}" + (f" [{tail[-1][:140]}]" if tail else "")] += 1
                record.clear()

        for line in text.splitlines():
            if _NGINX_RECORD.search(line):
                flush()
                events[f"nginx: {line.split('] ', 1)[-1][:140]}"] += 1
            elif _LOG_RECORD.match(line):
                flush()
                record.append(line)
            elif re.match(r"^\d{4}-\d\d-\d\d ", line):
                flush()
            elif record:
                record.append(line)
        flush()
        return events


def describe(events: Counter[str]) -> str:
    return "; ".join(f"{n} x {event}" for event, n in events.most_common(3))
