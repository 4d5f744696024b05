"""``python -m agent`` is the ``compagnon`` command."""

import sys

from .cli import main

sys.exit(main())
