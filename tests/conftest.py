import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_engine():
    """The in-process engine over a tiny random model (built once per test run)."""
    from helpers import WORDS, smol_tokenizer, tiny_model

    from s1 import TEMPLATES, Engine

    tok = smol_tokenizer()
    return Engine(tiny_model(tok, WORDS, seed=2), tok, TEMPLATES["s1"], 256)
