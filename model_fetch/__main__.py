"""Entry point: ``python -m model_fetch``."""

from model_fetch.cli import main

raise SystemExit(main())
