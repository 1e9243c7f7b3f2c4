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


def test_load_spec_for_curate_solvers_and_teachers(engine):
    from s1.backends import load_spec
    from s1.data import CurateError
    from s1.data.teachers import parse_teacher

    assert load_spec("") is engine and load_spec("smollm2-135m") is s1.load("smollm2-135m")
    with pytest.raises(BackendError, match="expected openai:BASE_URL:MODEL"):
        load_spec("openai:nowhere")
    with pytest.raises(BackendError, match="cannot reach http://127.0.0.1:9/v1/models"):
        load_spec("openai:http://127.0.0.1:9/v1:smollm2-135m")
    assert parse_teacher("vllm:Qwen/Qwen2.5-32B-Instruct").label == "vllm:Qwen/Qwen2.5-32B-Instruct"
    with pytest.raises(CurateError, match="needs a model"):
        parse_teacher("vllm:")


def test_vllm_backend_without_vllm_says_how_to_install():
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here (tests/backends/test_vllm.py covers it)")
    with pytest.raises(BackendError, match="pip install vllm"):
        load_backend("vllm")
