"""Shared test setup: offline hub, quiet transformers, the `slow` marker, fixtures built once per test run.

    make test                          # everything, the real embedded model included
    pytest -m "not slow" tests         # a developer's quick loop: skips the tests on the real model
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

# Fixtures that run the real embedded model (SmolLM2-135M on a llama.cpp server): every test using one is
# `slow`, like the tests marked by hand that load it in-process.
REAL_MODEL_FIXTURES = {"llama"}


def pytest_collection_modifyitems(items):
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_engine():
    """The in-process engine over a tiny random model (built once per test run)."""
    from helpers import WORDS, smol_tokenizer, tiny_model

    from s1 import TEMPLATES, Engine

    tok = smol_tokenizer()
    return Engine(tiny_model(tok, WORDS, seed=2), tok, TEMPLATES["s1"], 256)


@pytest.fixture(scope="session")
def answer_engine():
    """An engine over a tiny random model that can also write digits and paragraph breaks (graded tasks,
    curate teachers); context 200."""
    from helpers import WORDS, smol_tokenizer, tiny_model

    from s1 import TEMPLATES, Engine

    tok = smol_tokenizer()
    return Engine(tiny_model(tok, WORDS + ("\n\n", " 3", " 8"), seed=2), tok, TEMPLATES["s1"], 200)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny random model saved as a Hugging Face folder with the SmolLM2 tokenizer: what `--model DIR` takes."""
    from helpers import WORDS, smol_tokenizer, tiny_model

    d = tmp_path_factory.mktemp("tiny-model")
    tok = smol_tokenizer()
    tiny_model(tok, WORDS, seed=3).save_pretrained(d)
    tok.save_pretrained(d)
    return d
