"""`python -m app.cli`: the `vcs` command."""

import sys

from app.cli.main import main

sys.exit(main())
