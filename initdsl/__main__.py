"""``python -m initdsl``: the command line (see :mod:`initdsl.tools.cli`)."""

import sys

from .tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
