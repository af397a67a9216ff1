"""``python -m superbatch.backends.local JOB_DIR``: the detached runner of one job."""

import sys

from superbatch.backends.local.runner import main

sys.exit(main())
