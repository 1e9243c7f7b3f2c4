"""s1 curate run: every stage on the built-in pool, the report, resumption by stage, and clear errors."""

import json

import pytest
import yaml

from s1.cli import main
from s1.data import CurateError
from s1.data.rowfiles import iter_rows
from s1.data.pipeline import DEFAULT_CONFIG, load_config, run

S1K11 = ["solution", "question", "cot_type", "source_type", "metadata", "gemini_thinking_trajectory",
         "gemini_attempt", "deepseek_thinking_trajectory", "deepseek_attempt", "gemini_grade",
         "gemini_grade_reason", "deepseek_grade", "deepseek_grade_reason"]


def config(tmp_path, **select):
    return {"out": str(tmp_path / "run"), "sources": [{"name": "builtin", "builtin": {"n": 80, "seed": 1}}],
            "decontaminate": {"against": ["arith"]}, "traces": {"teacher": "builtin"},
            "featurize": {"solvers": []},
            "select": {"n": 20, "solvers_must_fail": False, "ablations": ["random"], **select}}


def test_run_builds_the_dataset_report_and_resumes_by_stage(tmp_path):
    logs = []
    state = run(config(tmp_path), log=logs.append)
    out = tmp_path / "run"
    rows = list(iter_rows(out / "s1k.parquet", normalize=False))
    assert len(rows) == 20 and set(S1K11) <= set(rows[0])  # the s1K-1.1 layout, read by s1 train directly
    assert all(r["deepseek_thinking_trajectory"] for r in rows)
    assert len(list(iter_rows(out / "ablation-random.parquet", normalize=False))) == 20
    funnel = state["select"]["stats"]["funnel"]
    assert funnel[0][1] == 80 and funnel[-1] == ["selected", 20]
    assert [c for _, c in funnel] == sorted((c for _, c in funnel), reverse=True)  # a funnel only narrows
    for name in ("report.md", "funnel.png", "domains.png", "lengths.png", "funnel.svg"):
        assert (out / "report" / name).stat().st_size > 0
    md = (out / "report" / "report.md").read_text()
    assert "| pool (collected) | 80 |" in md and "| selected | 20 |" in md
    # the same config again: nothing runs
    logs.clear()
    run(config(tmp_path), log=logs.append)
    assert sum("done already" in m for m in logs) == 5
    # a changed selection: only select runs again
    logs.clear()
    run(config(tmp_path, n=10), log=logs.append)
    assert sum("done already" in m for m in logs) == 4
    assert len(list(iter_rows(out / "s1k.parquet"))) == 10


def test_the_selected_file_trains_directly(tmp_path):
    from s1.train import build_examples, load_rows
    from s1.templates import TEMPLATES
    from helpers import smol_tokenizer
    from s1.train import TrainConfig

    run(config(tmp_path), log=lambda m: None)
    rows = load_rows(str(tmp_path / "run" / "s1k.parquet"))
    examples, counts = build_examples(rows, smol_tokenizer(), TEMPLATES["s1"],
                                      TrainConfig(data="x", out="y", max_length=2048))
    assert len(examples) == 20 and counts["too_long"] == 0


def test_default_config_is_valid(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(DEFAULT_CONFIG)
    cfg = load_config(p)
    assert cfg["traces"]["teacher"] == "builtin" and cfg["featurize"]["classifier"] == "offline"


@pytest.mark.parametrize("text, msg", [
    ("sources: [\n  - name: x\n  bad", "not valid YAML"),
    ("out: x\nsources: [{name: b, builtin: {}}]\nselct: {n: 3}\n", "unknown setting(s) selct"),
    ("out: x\nsources: [{name: b, builtin: {}}]\nselect: {count: 3}\n", "unknown select setting(s) count"),
    ("out: x\n", "no sources"),
])
def test_config_errors_are_one_line(tmp_path, capsys, text, msg):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    rc = main(["curate", "run", str(p)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s1: error: ") and msg in err and err.count("\n") == 1, err


def test_cli_stages_and_errors(tmp_path, capsys):
    assert main(["curate", "init", str(tmp_path / "c.yaml")]) == 0
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["select"]["method"] == "s1"
    capsys.readouterr()
    assert main(["curate", "init", str(tmp_path / "c.yaml")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["curate", "run", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    pool = tmp_path / "pool.jsonl"
    assert main(["curate", "collect", "--source", "b=builtin", "-o", str(pool)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 600
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1"}\n{not json\n')
    assert main(["curate", "decontaminate", str(bad), "--against", "arith", "-o", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2: not valid JSON" in err and not (tmp_path / "x.jsonl").exists()
    with pytest.raises(CurateError):
        load_config(tmp_path / "missing.yaml")
