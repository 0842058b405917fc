"""``python -m xanesnet_sk.cli``: the same as the ``xanesnet-sk`` command."""

import sys

try:
    from ._main import main

    status = main()
except KeyboardInterrupt:  # Ctrl-C while the command line is still loading
    print("xanesnet-sk: interrupted", file=sys.stderr)
    status = 130
sys.exit(status)
