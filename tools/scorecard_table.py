"""Write the scorecard tables of ``docs/scorecard.md``: every strategy, and the held-out check of the default.

Two Markdown tables, each between a pair of marker comments in the page
(everything outside the markers is left as it is):

* ``scorecard:full``: every registered strategy (families and presets, default
  parameters) on the Debian 30-image set at budgets 94, 30 and 10, the four
  figures of :func:`layerlab.metrics.scorecard.scorecard` over every (image,
  path) pair; the best value of each column in bold;
* ``scorecard:heldout``: the set split in halves by position in file-name order
  (even positions, odd positions).  The default strategy's parameters chosen on
  one half (read from ``data/debian/heldout-defaults.json``:
  ``{"strategy": NAME, "even": {params}, "odd": {params}}``) are measured on the
  other half, next to the shipped defaults and every other strategy on that
  half.  Without the file, the defaults alone are reported on each half.

The output depends only on the data and the code: a rerun writes the same
bytes.  ``--check`` exits with status 1 when the page is not up to date;
``--sample N`` measures the update figures on N pairs for a quick look (the
page says so).

Usage: ``python tools/scorecard_table.py [--doc docs/scorecard.md] [--sample N] [--jobs N] [--check]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson
import pandas as pd

from layerlab.errors import InputError, LayerlabError
from layerlab.fileio import atomic_write
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics.scorecard import FIGURES, SCORECARD_BUDGETS, scorecard, scorecard_table
from layerlab.strategies import DEFAULT_STRATEGY, available, get_strategy

HELDOUT_FILE = ROOT / "data" / "debian" / "heldout-defaults.json"
DOC = ROOT / "docs" / "scorecard.md"
BUDGETS = list(SCORECARD_BUDGETS)


def halves(full: ImageSet) -> dict[str, ImageSet]:
    """The fixed split: images at even positions in file-name order, and at odd positions."""
    positions = range(len(full))
    return {
        "even": full.subset(positions[0::2], name="even"),
        "odd": full.subset(positions[1::2], name="odd"),
    }


def _cells(wide: pd.DataFrame, label: str, best: dict[tuple[str, int], float] | None) -> list[str]:
    out = []
    for fig in FIGURES:
        parts = []
        for b in BUDGETS:
            v = float(wide.loc[(label, b), fig])
            text = f"{v:.3f}"
            if best is not None and round(v, 3) == round(best[(fig, b)], 3):
                text = f"**{text}**"
            parts.append(text)
        out.append(" / ".join(parts))
    return out


def _best(wide: pd.DataFrame) -> dict[tuple[str, int], float]:
    return {(fig, b): float(wide.xs(b, level="budget")[fig].min()) for fig in FIGURES for b in BUDGETS}


def _header(first: list[str]) -> list[str]:
    cols = [*first, *(f"{f} {' / '.join(map(str, BUDGETS))}" for f in FIGURES)]
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def _pairs_note(card: pd.DataFrame) -> str:
    measured, total = int(card["pairs"].dropna().iloc[0]), int(card["all_pairs"].iloc[0])
    if measured < total:
        return f"{measured} sampled of {total} (image, path) pairs"
    return f"all {total} (image, path) pairs"


def full_table(imageset: ImageSet, names: list[str], sample: int | None, executor: str) -> list[str]:
    """The Markdown lines of the full table."""
    card = scorecard(
        imageset, [get_strategy(n) for n in names], BUDGETS, sample=sample, executor=executor, progress=False
    )
    wide = scorecard_table(card)
    best = _best(wide)
    ideal = int(card["ideal_bytes"].dropna().iloc[0])
    renamed = int(card["renamed_bytes"].dropna().iloc[0])
    lines = [
        f"{len(imageset)} images ({imageset.name}), pulled in file-name order; ideal {ideal:,} bytes; update figures "
        f"over {_pairs_note(card)}, {renamed:,} renamed bytes in all. "
        "Lower is better; the best of each column in bold.",
        "",
        *_header(["strategy"]),
    ]
    by_spec = dict(zip(card["spec"], card["strategy"]))
    for name in names:
        label = by_spec[orjson.dumps(get_strategy(name).to_json(), option=orjson.OPT_SORT_KEYS).decode()]
        shown = f"`{name}` (default)" if name == DEFAULT_STRATEGY else f"`{name}`"
        lines.append("| " + " | ".join([shown, *_cells(wide, label, best)]) + " |")
    return lines


def heldout_table(full: ImageSet, names: list[str], sample: int | None, executor: str) -> list[str]:
    """The Markdown lines of the held-out table."""
    chosen: dict = {}
    if HELDOUT_FILE.is_file():
        try:
            chosen = orjson.loads(HELDOUT_FILE.read_bytes())
        except orjson.JSONDecodeError as err:
            raise InputError(f"not JSON: {err}", source=str(HELDOUT_FILE)) from None
        if not isinstance(chosen, dict) or not isinstance(chosen.get("strategy"), str):
            raise InputError('expected {"strategy": NAME, "even": {...}, "odd": {...}}', source=str(HELDOUT_FILE))
    strategy = chosen.get("strategy", DEFAULT_STRATEGY)
    parts = halves(full)
    lines = [
        f"Halves by position in file-name order: even ({', '.join(parts['even'].names)}) and odd (the others). "
        + (
            f"`{strategy}`'s parameters chosen on one half (`{HELDOUT_FILE.relative_to(ROOT)}`) are measured on the "
            "other, next to its defaults and every other strategy on that half."
            if chosen
            else f"No parameters chosen on a half were found; `{strategy}`'s defaults are reported on each half."
        ),
        "",
        *_header(["measured on", "configuration"]),
    ]
    notes = []
    for train, test in (("even", "odd"), ("odd", "even")):
        rows: list[tuple[str, object]] = []
        if chosen and isinstance(chosen.get(train), dict):
            params = chosen[train]
            text = ", ".join(f"{k}={v}" for k, v in params.items()) or "its defaults"
            rows.append((f"`{strategy}` chosen on {train} ({text})", get_strategy(strategy, **params)))
        rows.append((f"`{strategy}` defaults", get_strategy(strategy)))
        rows.extend((f"`{n}`", get_strategy(n)) for n in names if n != strategy)
        card = scorecard(parts[test], [s for _, s in rows], BUDGETS, sample=sample, executor=executor, progress=False)
        wide = scorecard_table(card)
        best = _best(wide)
        by_spec = dict(zip(card["spec"], card["strategy"]))
        for shown, s in rows:
            label = by_spec[orjson.dumps(s.to_json(), option=orjson.OPT_SORT_KEYS).decode()]
            lines.append("| " + " | ".join([test, shown, *_cells(wide, label, best)]) + " |")
        notes.append(f"{test}: {len(parts[test])} images, update figures over {_pairs_note(card)}")
    return [*lines, "", "; ".join(notes) + ". The best of each column within a half in bold."]


def replace_block(text: str, name: str, lines: list[str], source: str) -> str:
    """``text`` with the lines between ``<!-- name:start -->`` and ``<!-- name:end -->`` replaced."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise InputError(f"no {start} ... {end} markers", source=source)
    return text[: i + len(start)] + "\n" + "\n".join(lines) + "\n" + text[j:]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc", default=str(DOC), help="the page to update (default docs/scorecard.md)")
    ap.add_argument("--sample", type=int, help="update figures on N sampled pairs (default: all)")
    ap.add_argument("--jobs", "-j", type=int, default=1, help="worker processes (default 1: in-process)")
    ap.add_argument("--check", action="store_true", help="exit 1 when the page is not up to date; write nothing")
    args = ap.parse_args(argv)
    try:
        full = default_imageset()
        names = list(available())
        executor = "process" if args.jobs > 1 else "serial"
        doc = Path(args.doc)
        text = doc.read_text()
        new = replace_block(text, "scorecard:full", full_table(full, names, args.sample, executor), str(doc))
        new = replace_block(new, "scorecard:heldout", heldout_table(full, names, args.sample, executor), str(doc))
    except (LayerlabError, OSError) as err:
        print(f"scorecard_table: error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{doc} is not up to date: run python tools/scorecard_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        atomic_write(doc, new.encode())
    print(f"wrote {doc}" if new != text else f"{doc} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
