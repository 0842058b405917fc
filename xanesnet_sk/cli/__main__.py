"""``python -m xanesnet_sk.cli``: the same as the ``xanesnet-sk`` command."""

import sys

from ._main import main

sys.exit(main())
