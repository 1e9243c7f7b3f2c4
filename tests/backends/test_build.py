"""s1/backends/build.py: every backend is built here; bad requests fail with one error before any model loads."""

import pytest

import s1
from s1.backends import BackendError, load_backend, load_spec, parse_endpoint
from s1.templates import TemplateError


@pytest.mark.parametrize("call, msg", [
    (lambda: load_backend("tpu"), "unknown backend 'tpu' (choose transformers, vllm, openai)"),
    (lambda: load_backend("transformers", tensor_parallel_size=2),
     "options ['tensor_parallel_size'] do not apply to the transformers backend"),
    (lambda: load_backend("openai", base_url="http://127.0.0.1:9/v1", device="cpu"),
     "a device (cpu) does not apply to the openai backend"),
    (lambda: load_spec("openai:http://127.0.0.1:8000/v1"), "expected openai:BASE_URL:MODEL"),
])
def test_bad_requests_are_backend_errors(call, msg):
    with pytest.raises(BackendError) as e:
        call()
    assert msg in str(e.value)


def test_an_unknown_template_fails_before_a_model_loads():
    with pytest.raises(TemplateError, match="unknown template 'nope'"):
        load_backend("transformers", "/no/such/model", template="nope")  # the folder would fail later


def test_parse_endpoint():
    assert parse_endpoint("http://127.0.0.1:8000/v1:qwen2.5:7b") == ("http://127.0.0.1:8000/v1", "qwen2.5:7b")
    assert parse_endpoint("https://host/v1/chat/completions:m") == ("https://host/v1", "m")
    assert parse_endpoint("http://host:8000/v1") is None  # "8000/v1" is a port, not a model
    assert parse_endpoint("host:8000:m") is None  # no scheme


def test_one_engine_per_setting_whatever_the_entry_point(tiny_dir):
    engine = load_backend("transformers", str(tiny_dir))
    assert load_spec(str(tiny_dir)) is engine and s1.load(str(tiny_dir)) is engine
    assert load_backend("transformers", str(tiny_dir), dtype="auto", device="auto") is engine  # "auto" is None
    assert load_backend("transformers", str(tiny_dir), dtype="float32") is not engine
