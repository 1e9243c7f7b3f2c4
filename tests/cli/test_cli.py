"""The `s1` command: bad input (one clear line, exit 2, nothing written) and real runs on the
embedded SmolLM2-135M-Instruct."""

import json
import subprocess
import sys

import pytest

import s1
from s1.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv, msg", [
    (["generate", "hi", "--max-thinking", "-5"], "max thinking tokens must be >= 0"),
    (["generate", "hi", "--min-thinking", "50", "--max-thinking", "10"], "larger than max thinking"),
    (["generate", "hi", "--template", "nope"], "unknown template 'nope'"),
    (["generate", "   "], "the prompt is empty"),
    (["generate"], "give either a prompt or --input"),
    (["generate", "hi", "--temperature", "-1"], "temperature must be"),
    (["generate", "hi", "--model", "/no/such/folder"], "model folder '/no/such/folder' does not exist"),
    (["generate", "hi", "--model", "no-such-org/no-such-model"], "cannot load model 'no-such-org/no-such-model'"),
    (["generate", "hi", "--dtype", "int3"], "unknown dtype"),
])
def test_bad_input_is_one_clear_line(capsys, argv, msg):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2
    assert err.startswith("s1: error: ") and msg in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_malformed_jsonl_names_the_line_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "ok"}\n\n{"prompt": "fine"}\n{"prompt": oops}\n')
    dst = tmp_path / "out.jsonl"
    rc, _, err = run_cli(capsys, "generate", "--input", str(src), "--output", str(dst))
    assert rc == 2 and f"{src}:4: not valid JSON" in err
    src.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    rc, _, err = run_cli(capsys, "generate", "--input", str(src), "--output", str(dst))
    assert rc == 2 and f"{src}:2: no \"prompt\"" in err
    src.write_text('{"prompt": ""}\n')
    rc, _, err = run_cli(capsys, "generate", "--input", str(src), "--output", str(dst))
    assert rc == 2 and f"{src}:1: empty prompt" in err
    assert list(tmp_path.iterdir()) == [src]  # no output, no temp file


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "s1", "generate", "hi", "--num-ignore", "-2"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip() == "s1: error: num_ignore must be >= 0, got -2"


# -- the real embedded model ------------------------------------------------------------------

@pytest.mark.slow
def test_embedded_model_max_budget_is_exact(capsys):
    rc, out, _ = run_cli(capsys, "generate", "How many r in raspberry?", "--min-thinking", "16",
                         "--max-thinking", "16", "--max-answer", "24", "--json")
    r = json.loads(out)
    assert rc == 0 and r["thinking_tokens"] == 16 and r["thinking_cut"] and r["thinking_end"] == "max_thinking"
    assert r["answer"].startswith("Final Answer:") and 1 <= r["answer_tokens"] <= 24
    assert r["events"][-1] == {"kind": "cut", "at": 16}


@pytest.mark.slow
def test_embedded_model_min_budget_appends_wait(capsys):
    rc, out, _ = run_cli(capsys, "generate", "How many r in raspberry?", "--min-thinking", "40",
                         "--max-thinking", "80", "--max-answer", "16", "--json")
    r = json.loads(out)
    # SmolLM2 is no thinker: it tries to stop at once, and every early stop becomes "Wait"
    assert rc == 0 and 40 <= r["thinking_tokens"] <= 80 and r["num_ignored"] >= 1
    assert r["thinking"].count("Wait") >= r["num_ignored"]
    assert all(e["at"] < 40 for e in r["events"] if e["kind"] == "extend")


@pytest.mark.slow
def test_embedded_model_jsonl_batch(tmp_path, capsys):
    src = tmp_path / "prompts.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "prompt": "What is 2+3?", "topic": "math"},
        {"question": "Name a primary colour."},
        {"id": 7, "prompt": "How many legs has a spider?"},
    ]) + "\n")
    dst = tmp_path / "out.jsonl"
    rc, _, _ = run_cli(capsys, "generate", "--input", str(src), "--output", str(dst), "--max-thinking", "24",
                       "--num-ignore", "1", "--max-answer", "16", "--batch-size", "2")
    rows = [json.loads(line) for line in dst.read_text().splitlines()]
    assert rc == 0 and [r["id"] for r in rows] == ["a", 2, 7] and rows[0]["topic"] == "math"
    for r in rows:
        assert r["thinking_tokens"] <= 24 and r["answer_tokens"] <= 16
        assert set(r) >= {"prompt", "thinking", "answer", "num_ignored", "thinking_cut", "finish_reason"}
    # the same through the Python API gives the same results (the same batches: rows batched with other
    # neighbours may differ in the last bits of fp32, and greedy tokens with them)
    api = s1.generate(["What is 2+3?", "Name a primary colour.", "How many legs has a spider?"],
                      max_thinking_tokens=24, num_ignore=1, max_answer_tokens=16, batch_size=2)
    assert [a.answer for a in api] == [r["answer"] for r in rows]


@pytest.mark.slow
def test_embedded_budget_beyond_context(capsys):
    rc, _, err = run_cli(capsys, "generate", "hi", "--max-thinking", "9000")
    assert rc == 2 and "beyond the model's context window of 8192" in err


@pytest.mark.slow
def test_demo_shows_both_budgets_with_exact_counts(capsys):
    rc, out, _ = run_cli(capsys, "demo", "--quick")
    assert rc == 0
    small = next(line for line in out.splitlines() if line.startswith("│ small"))
    large = next(line for line in out.splitlines() if line.startswith("│ large"))
    assert [c.strip() for c in small.split("│")][2] == "16"
    assert 128 <= int([c.strip() for c in large.split("│")][2]) <= 160


def test_prompt_with_unicode_line_separator_reads_back(tmp_path):
    """What `s1 generate --output` writes (json.dumps, ensure_ascii=False: U+2028 raw) reads back as prompts."""
    from s1.cli.generate import read_prompts

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "prompt": "line one\u2028line two\u2029end"}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    [rec] = read_prompts(str(src))
    assert rec["_prompt"] == "line one\u2028line two\u2029end" and rec["_line"] == 1 and rec["id"] == "x"
