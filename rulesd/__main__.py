"""`python -m rulesd` runs the command line."""

from __future__ import annotations

import sys

from rulesd.cli import main

sys.exit(main())
