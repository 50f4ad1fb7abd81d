"""Record benchmark figures so `make bench` can write ``docs/benchmarks.md``.

Every benchmark prints its figures and also calls :func:`record` once per
figure.  Records land in ``build/bench/<script>.jsonl`` (one JSON object a
line, rewritten at each run of that script); ``benchmarks/write_page.py``
turns every record into the one page where figures live.

Example::

    from _report import record
    record("group universe (process)", 0.52, "s", baseline="Go 2019 program",
           baseline_value=1.07, goal="<= 0.5x Go", note="median of 7")
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
_started: set[str] = set()


def _script() -> str:
    return Path(sys.argv[0]).stem or "interactive"


def record(
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: str | None = None,
    baseline_value: float | None = None,
    goal: str | None = None,
    note: str | None = None,
    estimate: bool = False,
) -> dict:
    """Append one figure of this run; returns the record.

    ``ratio`` is ``baseline_value / value`` for times and sizes (how many times
    better than the baseline), computed only when both are given.  An
    ``estimate`` is labelled as such on the page and never called measured.
    """
    script = _script()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{script}.jsonl"
    if script not in _started:
        path.write_text("")
        _started.add(script)
    rec = {
        "script": script,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": (baseline_value / value) if (baseline_value and value) else None,
        "goal": goal,
        "note": note,
        "estimate": estimate,
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    with path.open("a") as fh:
        fh.write(json.dumps(rec) + "\n")
    return rec
