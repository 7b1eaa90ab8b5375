"""``python -m vaelab`` runs the command-line interface."""
from vaelab.cli import main

raise SystemExit(main())
