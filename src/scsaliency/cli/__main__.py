"""``python -m scsaliency.cli``: the ``scsaliency`` command."""

import sys

from . import main

sys.exit(main())
