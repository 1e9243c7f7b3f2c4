"""`python -m s1.lm_eval ARGS`: lm-eval's command line with the `s1` model registered (see s1.lm_eval.entry)."""

import sys

from .entry import main

sys.exit(main())
