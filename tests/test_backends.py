"""The shared backend behaviour suite on the in-process transformers engine (embedded model), and load_backend."""

import pytest

import s1
from s1.backends import BackendError, load_backend

from backend_suite import CHECKS


@pytest.fixture(scope="module")
def engine():
    return load_backend("transformers")


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_transformers_backend(engine, check):
    check(engine)


def test_load_backend_is_the_cached_engine(engine):
    assert engine is s1.load() and engine.name == "transformers"


def test_load_backend_errors():
    with pytest.raises(BackendError, match="unknown backend 'tgi'"):
        load_backend("tgi")
    with pytest.raises(BackendError, match="do not apply to the transformers backend"):
        load_backend("transformers", base_url="http://x")
