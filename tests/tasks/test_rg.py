"""reasoning-gym tasks (rg:<dataset>[:knobs]) and curate source: seeded questions, the dataset's own verifier,
`s1 eval` and `s1 curate run` on them, and one clear line for a bad dataset or key."""

import json

import pytest
import yaml

from s1.cli import main
from s1.data import CurateError
from s1.data.featurize import grade_answer
from s1.data.pipeline import load_config, run
from s1.data.rg_source import rg_rows
from s1.data.rowfiles import iter_rows
from s1.grading import GradingError, grade
from s1.tasks import TaskError, get_task

SPEC = "rg:basic_arithmetic:n=6,seed=1,min_terms=2,max_terms=3"


def prompts(spec):
    return [(q.prompt, q.answer) for q in get_task(spec).load()]


def test_questions_are_seeded_and_carry_their_verifier():
    qs = get_task(SPEC).load()
    assert prompts(SPEC) == [(q.prompt, q.answer) for q in qs]  # same seed, same questions
    assert prompts(SPEC.replace("seed=1", "seed=2")) != prompts(SPEC)
    assert prompts(SPEC.replace("n=6", "n=3")) == prompts(SPEC)[:3]  # a smaller n is a prefix
    assert [q.prompt for q in get_task(SPEC, limit=2).load()] == [q.prompt for q in qs[:2]]
    q = qs[0]
    assert q.id == "rg-basic_arithmetic-s1-0000" and q.kind == "rg" and q.prompt.endswith("inside \\boxed{}.")
    v = q.metadata["rg"]
    assert v["dataset"] == "basic_arithmetic" and v["entry"]["answer"] == q.answer
    assert v["config"] == {"min_terms": 2, "max_terms": 3, "seed": 1, "size": 6}
    json.dumps(v)  # travels to the grading helper and into pool rows as JSON
    cfg = get_task(SPEC).config()
    assert cfg["dataset"] == "basic_arithmetic" and cfg["settings"] == {"min_terms": 2, "max_terms": 3}
    assert cfg["reasoning_gym"] == "0.1.25" and (cfg["n"], cfg["seed"]) == (6, 1)
    # a list setting is written a|b: only + and - appear
    plus_minus = get_task("rg:basic_arithmetic:n=20,operators=+|-,allow_parentheses=false").load()
    assert all(not set(q.prompt.split("\n")[0]) & set("*/") for q in plus_minus)


def test_the_datasets_own_verifier_grades():
    from s1.grading.check import HELPER

    q = get_task(SPEC).load()[0]
    HELPER.close()  # a fresh grading helper: importing reasoning-gym there is setup, not charged to the 1 s
    right = grade(f"So the result is \\boxed{{{q.answer}}}.", q.answer, "rg", timeout=1.0, verifier=q.metadata["rg"])
    assert right.correct and right.method == "reasoning-gym" and right.extracted == q.answer
    wrong = grade(f"\\boxed{{{int(q.answer) + 1}}}", q.answer, "rg", verifier=q.metadata["rg"])
    assert not wrong.correct and wrong.method == "reasoning-gym"
    assert grade("", q.answer, "rg", verifier=q.metadata["rg"]).method == "none"
    with pytest.raises(GradingError, match="verifier"):
        grade("\\boxed{1}", q.answer, "rg")
    # a dataset with no single right answer: any valid one scores (graph colouring), a clash does not
    g = get_task("rg:graph_color:n=1,seed=3").load()[0]
    meta = g.metadata["rg"]["entry"]["metadata"]
    colors, n = meta["possible_answer"], len(meta["puzzle"]["vertices"])
    assert grade(f"\\boxed{{{json.dumps(colors)}}}", g.answer, "rg", verifier=g.metadata["rg"]).correct
    clash = {str(v): 1 for v in range(n)}
    assert not grade(f"\\boxed{{{json.dumps(clash)}}}", g.answer, "rg", verifier=g.metadata["rg"]).correct
    # featurize's solver verdict on a pool row uses the same verifier
    row = rg_rows(["basic_arithmetic:min_terms=2,max_terms=3"], n=1, seed=1)[0]
    assert row["solution"] == q.answer and row["metadata"]["rg"] == {**q.metadata["rg"], "config": {
        "min_terms": 2, "max_terms": 3, "seed": 1, "size": 1}}
    verifier = row["metadata"]["rg"]
    assert grade_answer(f"\\boxed{{{q.answer}}}", row["solution"], verifier=verifier) is True
    assert grade_answer("\\boxed{0.5}", row["solution"], verifier=verifier) is False


@pytest.mark.parametrize("spec, msg", [
    ("rg:basic_arithmtic", "unknown reasoning-gym dataset 'basic_arithmtic'; did you mean basic_arithmetic"),
    ("rg", "rg needs a dataset: rg:<dataset>[:key=value,...]; reasoning-gym has ab, acre"),
    ("rg:basic_arithmetic:min_term=2", "unknown key 'min_term' for rg:basic_arithmetic (did you mean min_terms"),
    ("rg:basic_arithmetic:size=3", "(use n for the number of questions)"),
    ("rg:basic_arithmetic:min_terms=two", "rg:basic_arithmetic: min_terms must be an integer, got 'two'"),
    ("rg:basic_arithmetic:min_terms=5,max_terms=2", "reasoning-gym refuses these settings: max_terms must be >= min_terms"),
    ("rg:basic_arithmetic:n=0", "n must be between 1 and 100000"),
    ("rg:word_ladder", "a seed does not fix them; run with PYTHONHASHSEED=0 set"),
])
def test_bad_specs_are_one_line(spec, msg):
    with pytest.raises(TaskError) as e:
        get_task(spec)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_cli_bad_dataset_exits_2_with_close_names(tmp_path, capsys):
    rc = main(["eval", "--task", "rg:leter_counting:n=2", "--out", str(tmp_path / "X")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "did you mean letter_counting" in err, err
    assert not (tmp_path / "X").exists()


@pytest.mark.slow
def test_eval_on_the_embedded_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--task", "rg:chain_sum:n=2,seed=3,max_terms=2,max_digits=1", "--max-thinking", "8",
                 "--max-answer", "16", "--out", str(out)]) == 0
    capsys.readouterr()
    recs = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and {r["grading"] for r in recs} <= {"reasoning-gym", "none"}
    assert [r["gold"] for r in recs] == [q.answer for q in get_task("rg:chain_sum:n=2,seed=3,max_terms=2,max_digits=1").load()]
    assert json.loads((out / "config.json").read_text())["task"]["dataset"] == "chain_sum"


def curate_config(tmp_path, model):
    return {"out": str(tmp_path / "run"),
            "sources": [{"name": "gym", "rg": {"datasets": ["gcd", "chain_sum:max_terms=3"], "n": 3, "seed": 0}}],
            "decontaminate": {"against": ["rg:gcd:n=3,seed=9"]},
            "traces": {"teacher": f"engine:{model}", "max_tokens": 16},
            "featurize": {"solvers": [str(model)], "solver_budget": 2, "answer_tokens": 4},
            "select": {"n": 2, "solvers_must_fail": False}}


def test_curate_run_with_an_rg_source(tmp_path, answer_engine):
    from s1 import TEMPLATES

    model = tmp_path / "tiny-model"  # a tiny random model that writes words and digits: teacher and solver
    answer_engine.model.save_pretrained(model)
    answer_engine.tokenizer.save_pretrained(model)
    TEMPLATES["s1"].save(model)
    state = run(curate_config(tmp_path, model), log=lambda m: None)
    assert state["collect"]["stats"]["rows"] == 6
    # every gcd question shares its wording's 8-grams with the held-out rg:gcd task: decontamination drops them
    assert state["decontaminate"]["stats"]["dropped_contaminated"] == 3
    rows = list(iter_rows(tmp_path / "run" / "04-features.jsonl"))
    assert [r["metadata"]["generator"] for r in rows] == ["rg/chain_sum"] * 3
    assert all(r["source_type"] == "gym" and r["metadata"]["rg"]["entry"]["answer"] == r["solution"] for r in rows)
    # every row was graded by its verifier (a verdict, not None for "no gold")
    assert all(isinstance(r["solver_correct"][str(model)], bool) for r in rows)
    assert len(list(iter_rows(tmp_path / "run" / "s1k.parquet"))) == 2


def test_bad_rg_source_is_refused_before_the_run(tmp_path, capsys):
    cfg = curate_config(tmp_path, "m")
    cfg["sources"][0]["rg"]["datasets"] = ["gcdd"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(CurateError, match="unknown reasoning-gym dataset 'gcdd'; did you mean gcd"):
        load_config(path)
    assert main(["curate", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean gcd" in err and not (tmp_path / "run").exists()


def test_collect_takes_an_rg_spec(tmp_path, capsys):
    out = tmp_path / "pool.jsonl"
    assert main(["curate", "collect", "--source", "gym=rg:gcd:n=4,seed=2", "-o", str(out)]) == 0
    rows = list(iter_rows(out))
    assert len(rows) == 4 and all(r["metadata"]["rg"]["dataset"] == "gcd" for r in rows)
