"""``python -m gatewidgets``: the command line."""
import sys

from gatewidgets.cli import main

sys.exit(main())
