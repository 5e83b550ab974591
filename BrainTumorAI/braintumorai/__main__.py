"""``python -m braintumorai``: the command line, as the ``braintumorai`` script runs it."""

import sys

from .cli import main

sys.exit(main())
