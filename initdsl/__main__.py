"""``python -m initdsl``: the command line (see :mod:`initdsl.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
