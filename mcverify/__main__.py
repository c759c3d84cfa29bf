"""``python -m mcverify``: the same as the ``mcverify`` command."""

import sys

from mcverify.cli.main import main

sys.exit(main())
