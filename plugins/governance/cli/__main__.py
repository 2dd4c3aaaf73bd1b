"""``python -m governance.cli``: the ``governance`` command without its console script."""

import sys

from governance.cli import main

sys.exit(main())
