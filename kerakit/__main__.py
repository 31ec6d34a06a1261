"""``python -m kerakit``: the same as the ``kerakit`` command."""

import sys

from kerakit.cli import main

sys.exit(main())
