"""``python -m export_lint``."""

from export_lint.cli import main

raise SystemExit(main())
