"""Write docs/rules/EXPnnn.md (and the index) from the rules' docstrings.

python scripts/rule_docs.py           # write the pages, remove pages of rules that are gone
python scripts/rule_docs.py --check   # exit 1 when a page is missing, stale or orphaned
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export_lint.rule_docs import pages
from export_lint.rules import all_rules

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "rules"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report pages that are not current")
    args = parser.parse_args()
    wanted = pages(all_rules())
    present = {path.name for path in FOLDER.glob("*.md")} if FOLDER.is_dir() else set()
    stale = sorted(
        name for name, text in wanted.items() if not (FOLDER / name).is_file() or (FOLDER / name).read_text() != text
    )
    orphans = sorted(present - set(wanted))
    if args.check:
        for name in [*stale, *orphans]:
            print(f"docs/rules/{name} is not current: run python scripts/rule_docs.py", file=sys.stderr)
        return 1 if stale or orphans else 0
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (FOLDER / name).write_text(wanted[name], encoding="utf-8")
    for name in orphans:
        (FOLDER / name).unlink()
    print(f"docs/rules: {len(stale)} written, {len(orphans)} removed, {len(wanted)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
