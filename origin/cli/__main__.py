"""``python -m origin.cli``: the same as the ``picora-origin`` command."""

import sys

from origin.cli.main import main

sys.exit(main())
