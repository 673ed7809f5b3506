"""`python -m server.cli` is the same as the `ostinato` command."""

import sys

from server.cli import main

sys.exit(main())
