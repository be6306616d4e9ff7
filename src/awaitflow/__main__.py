"""``python -m awaitflow``: the same command line as ``awaitflow``."""

from ._cli import main

raise SystemExit(main())
