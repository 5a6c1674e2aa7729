#!/usr/bin/env python3
"""Compare the latest `cargo bench --bench count` results with the guide's targets table.

Reads criterion's estimates under target/criterion and prints a Markdown table of the mean time
per call, the target, and the fraction of the target used. Exits 1 if a result is missing or
misses its target, so it can gate a release check.

    cargo bench --bench count && python3 bench/targets.py
"""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRITERION = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "criterion"

# The guide's "Typical Performance Expectations", in milliseconds per count.
TARGETS_MS = {
    "heuristic": {"1KB": 1, "10KB": 5, "100KB": 20, "1MB": 100},
    "tiktoken": {"1KB": 5, "10KB": 20, "100KB": 100, "1MB": 500},
    "huggingface": {"1KB": 20, "10KB": 100, "100KB": 500, "1MB": 2000},
}
SIZES = ["1KB", "10KB", "100KB", "1MB"]


def mean_ms(group_dir: pathlib.Path, bench: str) -> float:
    path = group_dir / bench / "new" / "estimates.json"
    estimates = json.loads(path.read_text())
    return estimates["mean"]["point_estimate"] / 1e6


def fmt_time(ms: float) -> str:
    """Milliseconds, or microseconds under 0.1 ms (a 1 KB count takes a few)."""
    if ms < 0.1:
        return f"{ms * 1000:.2g} us" if ms < 0.001 else f"{ms * 1000:.1f} us"
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.1f} ms"


def fmt_share(ms: float, target: float) -> str:
    share = ms / target
    return f"{share:.0%}" if share >= 0.01 else f"{share:.2%}"


def main() -> int:
    if not CRITERION.is_dir():
        print(f"no results in {CRITERION}: run `cargo bench --bench count` first", file=sys.stderr)
        return 1
    subjects = sorted(p.name for p in (CRITERION / "count_1KB").iterdir() if p.is_dir() and p.name != "report")
    failures = 0
    print("| adapter | " + " | ".join(SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for subject in subjects:
        family = subject.split("-")[0]
        cells = []
        for size in SIZES:
            try:
                ms = mean_ms(CRITERION / f"count_{size}", subject)
            except FileNotFoundError:
                cells.append("missing")
                failures += 1
                continue
            target = TARGETS_MS[family][size]
            ok = ms < target
            failures += not ok
            cells.append(f"{fmt_time(ms)} ({fmt_share(ms, target)} of <{target} ms){'' if ok else ' MISSED'}")
        print(f"| {subject} | " + " | ".join(cells) + " |")

    patho = CRITERION / "pathological_1MB"
    if patho.is_dir():
        print()
        cases = ["one-char", "spaces", "digits", "cjk"]
        print("| adapter (1 MB) | " + " | ".join(cases) + " |")
        print("|---|" + "---|" * len(cases))
        for subject in subjects:
            cells = []
            for case in cases:
                try:
                    cells.append(fmt_time(mean_ms(patho / subject, case)))
                except FileNotFoundError:
                    cells.append("missing")
            print(f"| {subject} | " + " | ".join(cells) + " |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
