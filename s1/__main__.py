"""`python -m s1 ...` is the same as the `s1` command (used with `accelerate launch -m s1`)."""

import sys

from .cli import main

sys.exit(main())
