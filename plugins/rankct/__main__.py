"""``python -m rankct``: the command line, also where no console script is installed (the deploy
workflow runs ``python -S -m rankct deploy verify`` from a plain checkout)."""

import sys

from rankct.cli import main

sys.exit(main())
