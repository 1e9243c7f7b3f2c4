"""The README's `s1 generate` examples, run as written on the embedded model: each thinks and answers.

    pytest -q tests/test_readme.py            # the parsing checks; add -m slow for the model runs
"""

import json
import re
import shlex
from pathlib import Path

import pytest

from s1.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = "Final Answer:"
# examples that name another model, backend or server cannot run here; they are listed, not dropped silently
ELSEWHERE = ("--model", "--backend", "--base-url")


def generate_examples() -> list[list[str]]:
    """Every `s1 generate ...` line of the README's bash blocks, as argv (comments removed)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip().startswith("s1 generate")]
    return [shlex.split(ln, comments=True)[1:] for ln in lines]


def runnable(argv: list[str]) -> bool:
    return not any(a in ELSEWHERE for a in argv) and "..." not in argv


def test_the_readme_has_generate_examples_for_the_embedded_model():
    examples = generate_examples()
    assert sum(map(runnable, examples)) >= 4, examples
    # a skipped example is one for another model or server, never one that merely looks hard
    for argv in examples:
        if not runnable(argv):
            assert any(a in ELSEWHERE for a in argv) or "..." in argv, argv


def _has_answer(r: dict) -> bool:
    text = r["answer"].strip()
    return bool(text.removeprefix(PREFIX).strip())


@pytest.mark.slow
@pytest.mark.parametrize("argv", [a for a in generate_examples() if runnable(a)], ids=" ".join)
def test_readme_generate_example_thinks_and_answers(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "--input" in argv:
        Path(argv[argv.index("--input") + 1]).write_text(
            "".join(json.dumps({"id": i, "prompt": p}) + "\n"
                    for i, p in enumerate(["How many r in raspberry?", "What is 12 + 30?"])))
    run = argv if "--json" in argv or "--input" in argv else [*argv, "--json"]  # the same run, as a record
    assert main(run) == 0
    out = capsys.readouterr().out
    if "--output" in argv:
        out = Path(argv[argv.index("--output") + 1]).read_text()
    results = [json.loads(line) for line in out.splitlines() if line.strip()] if "--input" in argv \
        else [json.loads(out)]
    for r in results:
        assert r["thinking"].strip(), r
        assert _has_answer(r), r
