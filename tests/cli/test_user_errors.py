"""Mistakes a user can make on the command line: each is one line on stderr, exit 2, and nothing left
behind (no output file, no run folder that would block the corrected rerun)."""

import json

import pytest
import torch

from s1.cli import main
from s1.files import output_problem


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s1: error: ") and err.count("\n") == 1, (argv, rc, err)
    return err


def test_output_problem(tmp_path):
    (tmp_path / "f").write_text("x")
    assert output_problem(tmp_path / "new.jsonl") is None
    assert output_problem(tmp_path / "f") is None  # an existing file is replaced
    assert output_problem(tmp_path) == f"{tmp_path} is a folder"
    assert output_problem(tmp_path / "nope" / "x.jsonl") == f"{tmp_path / 'nope'}: no such folder"
    assert output_problem(tmp_path / "f" / "x.jsonl") == f"{tmp_path / 'f'} is not a folder"


@pytest.mark.parametrize("where", ["missing", "file"])
def test_generate_checks_the_output_location_before_loading_anything(tmp_path, capsys, monkeypatch, where):
    import s1.backends

    monkeypatch.setattr(s1.backends, "load_backend", lambda *a, **k: pytest.fail("generated before checking"))
    (tmp_path / "file").write_text("x")
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    err = run(["generate", "--input", tmp_path / "p.jsonl", "--output", tmp_path / where / "x.jsonl"], capsys)
    assert ("no such folder" if where == "missing" else "is not a folder") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "p.jsonl"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda(capsys):
    err = run(["generate", "hi", "--device", "cuda"], capsys)
    assert "CUDA is not available on this machine" in err
    assert "unknown device 'gpu0'" in run(["generate", "hi", "--device", "gpu0"], capsys)


SOURCES = "sources: [{name: b, builtin: {n: 5}}]\n"


@pytest.mark.parametrize("text,msg", [
    ("select: {n: lots}\n" + SOURCES, "select.n must be a whole number, got 'lots'"),
    ("traces: {concurrency: 0}\n" + SOURCES, "traces.concurrency must be >= 1, got 0"),
    ("featurize: {solvers: smollm2}\n" + SOURCES, "featurize.solvers must be a list of names"),
    ("sources: [{name: b, builtin: {n: many}}]\n", "source 1: builtin.n must be a whole number"),
    ("sources: [1, 2\n", "not valid YAML"),
    (b"\xff\xfe\x00sources: x\n", "not UTF-8 text"),
])
def test_curate_run_rejects_a_bad_config_before_making_the_folder(tmp_path, capsys, text, msg):
    cfg = tmp_path / "c.yaml"
    body = text if isinstance(text, bytes) else text.encode()
    cfg.write_bytes(body + f"out: {tmp_path / 'run'}\n".encode())
    assert msg in run(["curate", "run", cfg], capsys)
    assert not (tmp_path / "run").exists() and not (tmp_path / "c-run").exists()


def test_curate_decontaminate_on_a_binary_file(tmp_path, capsys):
    (tmp_path / "bin.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    err = run(["curate", "decontaminate", tmp_path / "bin.jsonl", "-o", tmp_path / "out.jsonl", "--against", "arith"],
              capsys)
    assert "bin.jsonl" in err and "UTF-8" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_curate_select_on_an_empty_file(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    err = run(["curate", "select", tmp_path / "empty.jsonl", "-o", tmp_path / "s.parquet"], capsys)
    assert err.strip().endswith("empty.jsonl: no rows")
    assert not (tmp_path / "s.parquet").exists()
