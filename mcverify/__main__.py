"""``python -m mcverify``: the same as the ``mcverify`` command."""

import sys

from .cli import main

sys.exit(main())
