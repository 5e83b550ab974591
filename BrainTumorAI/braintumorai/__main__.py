"""``python -m braintumorai``: the command line, as the ``braintumorai`` script runs it."""

import sys

try:  # a Ctrl-C while the command line loads: one line, not a traceback
    from .cli import main
except KeyboardInterrupt:
    sys.stderr.write("braintumorai: stopped by Ctrl-C (SIGINT) while starting; nothing was written.\n")
    raise SystemExit(130) from None

sys.exit(main())
