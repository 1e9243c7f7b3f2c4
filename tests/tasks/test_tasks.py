"""Evaluation tasks: generated sets, local files, GPQA shuffling, spec parsing and hub error messages."""

import hashlib
import itertools
import json
import re
from collections import Counter
from types import SimpleNamespace

import pytest

from s1.tasks import TASKS, Question, Task, TaskError, get_task, list_tasks, parse_spec
from s1.tasks.base import BOXED
from s1.tasks.gpqa import permutation

GENERATED = ["arith", "letters", "combinatorics"]


def prompts(spec, **kw):
    return [q.prompt for q in get_task(spec, **kw).load()]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- generated tasks -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATED)
def test_generated_tasks_are_deterministic_and_seed_sensitive(name):
    a = [q.to_dict() for q in get_task(f"{name}:n=60,seed=3").load()]
    assert a == [q.to_dict() for q in get_task(f"{name}:seed=3,n=60").load()]
    assert len(a) == 60 and len({q["prompt"] for q in a}) == 60  # distinct questions
    assert [q["id"] for q in a[:2]] == [f"{name}-s3-0000", f"{name}-s3-0001"]
    assert all(q["kind"] == "integer" and q["prompt"].endswith(BOXED) for q in a)
    other = {q.prompt for q in get_task(f"{name}:n=60,seed=4").load()}
    assert len(other & {q["prompt"] for q in a}) < 30  # another seed: mostly other questions


@pytest.mark.parametrize("name", GENERATED)
def test_smaller_n_and_limit_give_a_prefix(name):
    full = prompts(f"{name}:n=40")
    assert prompts(f"{name}:n=10") == full[:10]
    assert prompts(name, limit=7) == prompts(f"{name}:n=100")[:7]


def test_generated_questions_are_pinned():
    # str seeds are hashed with SHA-512 by `random`: the same questions in every process, on every
    # platform. A change here changes every generated task (or the GPQA letters): bump `version`
    # if it is meant.
    first = lambda spec: [(q.prompt.split("\n")[0], q.answer) for q in get_task(spec).load()]  # noqa: E731
    assert first("arith:n=2") == [("Compute 97 + 31 + 32.", "160"), ("Compute 27 - 63 + 91.", "55")]
    assert first("letters:n=2") == [('How many times does the letter "r" appear in "bib"?', "0"),
                                    ('How many times does the letter "e" appear in "feet"?', "2")]
    assert first("combinatorics:n=1") == [
        ("How many 4-letter codes can be made from an alphabet of 3 letters if letters may repeat?", "81")]
    assert permutation(0, "recABC") == [0, 2, 3, 1] and permutation(1, "recABC") == [2, 1, 3, 0]
    cfg = get_task("arith:n=100,seed=3,steps=4").config()
    assert cfg == {"name": "arith", "version": 1, "n": 100, "seed": 3, "steps": 4, "digits": 2, "ops": "+-",
                   "limit": None}
    json.dumps(cfg)


def test_arith_answers_recomputed():
    for spec in ["arith:steps=1,digits=1", "arith", "arith:steps=6,digits=3,ops=+-*"]:
        for q in get_task(spec).load():
            expr = re.fullmatch(r"Compute (.*)\.", q.prompt.split("\n")[0]).group(1)
            assert int(q.answer) == eval(expr.replace("×", "*"))  # Python's own precedence
    qs = get_task("arith:steps=1,digits=1,n=30").load()
    assert all(re.fullmatch(r"Compute [1-9] [+-] [1-9]\.", q.prompt.split("\n")[0]) for q in qs)
    assert any("×" in q.prompt for q in get_task("arith:ops=*+,n=10").load())


def test_letters_answers_recounted():
    qs = get_task("letters:n=200,length=2").load()
    for q in qs:
        letter, text = re.match(r'How many times does the letter "(.)" appear in "([a-z ]+)"\?', q.prompt).groups()
        assert len(text.split()) == 2
        assert q.answer == str(sum(c == letter for c in text))
    answers = Counter(q.answer for q in qs)
    assert answers["0"] > 0 and sum(v for k, v in answers.items() if int(k) >= 2) > 50


def test_combinatorics_answers_by_brute_force():
    qs = get_task("combinatorics:n=200,size=5").load()
    seen = set()
    for q in qs:
        m = q.metadata
        t = m["type"]
        seen.add(t)
        if t == "choose":
            want = len(list(itertools.combinations(range(m["m"]), m["k"])))
        elif t == "order":
            want = len(list(itertools.permutations(range(m["m"]))))
        elif t == "arrange":
            want = len(list(itertools.permutations(range(m["m"]), m["k"])))
        elif t == "word":
            assert f'"{m["word"]}"' in q.prompt
            want = len(set(itertools.permutations(m["word"])))
        elif t == "grid":
            w, h = m["width"], m["height"]
            assert re.search(rf"\b{w}\b.* by \b{h}\b|\b{w} blocks east and {h} blocks north", q.prompt)
            paths = [[1] * (h + 1) for _ in range(w + 1)]
            for x in range(1, w + 1):
                for y in range(1, h + 1):
                    paths[x][y] = paths[x - 1][y] + paths[x][y - 1]
            want = paths[w][h]
        elif t == "handshakes":
            want = len(list(itertools.combinations(range(m["m"]), 2)))
        elif t == "codes":
            want = len(list(itertools.product(range(m["m"]), repeat=m["k"])))
        elif t == "candies":
            want = sum(sum(r) == m["candies"] for r in itertools.product(range(m["candies"] + 1), repeat=m["children"]))
        elif t == "diagonals":
            s = m["sides"]
            want = sum((j - i) % s not in (1, s - 1) for i, j in itertools.combinations(range(s), 2))
        elif t == "dice":
            want = sum(sum(r) == m["total"] for r in itertools.product(range(1, 7), repeat=m["dice"]))
        else:
            assert t == "subsets"
            want = sum(1 for r in range(m["m"] + 1) for _ in itertools.combinations(range(m["m"]), r))
        assert q.answer == str(want), q.prompt
    assert seen == {"choose", "order", "arrange", "word", "grid", "subsets", "handshakes", "codes", "candies",
                    "diagonals", "dice"}


def test_generated_knobs_are_checked():
    with pytest.raises(TaskError, match=r"^arith: steps must be between 1 and 30, got 0$"):
        get_task("arith:steps=0")
    with pytest.raises(TaskError, match=r"^arith: ops must be made of \+ - \*, got '/'$"):
        get_task("arith:ops=/")
    with pytest.raises(TaskError, match="distinct questions exist at these settings"):
        get_task("arith:n=100,steps=1,digits=1,ops=+").load()  # only 81 sums of two digits
    assert get_task("arith:ops=-+").config()["ops"] == "+-"


# -- specs and the registry ----------------------------------------------------------------------


def test_spec_parsing_and_errors():
    assert parse_spec("arith:n=100,seed=3,steps=4") == ("arith", {"n": "100", "seed": "3", "steps": "4"})
    assert parse_spec(" letters ") == ("letters", {})
    t = get_task("arith:n=100,seed=3,steps=4")
    assert isinstance(t, Task) and (t.n, t.seed, t.steps) == (100, 3, 4)
    names = ", ".join(sorted(TASKS))
    assert names == "aime24, aime25, arith, combinatorics, file, gpqa_diamond, letters, math500, rg"
    with pytest.raises(TaskError) as e:
        get_task("nope:n=3")
    assert str(e.value) == f"unknown task 'nope'; available tasks: {names}"
    with pytest.raises(TaskError) as e:
        get_task("arith:digit=3")
    assert str(e.value) == "unknown key 'digit' for task 'arith'; valid keys: n, seed, steps, digits, ops"
    with pytest.raises(TaskError) as e:
        get_task("gpqa_diamond:shuffle=1")
    assert str(e.value) == "unknown key 'shuffle' for task 'gpqa_diamond'; valid keys: dataset, split, revision, seed"
    for spec, msg in [
        ("arith:n", "bad task spec 'arith:n': expected name or name:key=value,key=value"),
        ("arith:n=1,n=2", "task spec 'arith:n=1,n=2' sets 'n' twice"),
        ("arith:n=ten", "arith: n must be an integer, got 'ten'"),
        (":n=1", "empty task name in ':n=1'; expected name or name:key=value,key=value"),
    ]:
        with pytest.raises(TaskError) as e:
            get_task(spec)
        assert str(e.value) == msg


def test_list_tasks_is_one_line_per_task():
    rows = list_tasks()
    assert [n for n, _ in rows] == sorted(TASKS)
    assert all(d and "\n" not in d for _, d in rows)
    assert dict(rows)["arith"].endswith("[n=100, seed=0, steps=2, digits=2, ops=+-]")


def test_data_fields_and_limit_are_checked(tmp_path):
    with pytest.raises(TaskError, match="^task 'arith' is generated: it reads no data file"):
        get_task("arith", data="x.jsonl")
    with pytest.raises(TaskError, match=r"^unknown field 'question' for task 'math500'; "
                                        r"valid fields: prompt, answer, id$"):
        get_task("math500", fields={"question": "q"})
    with pytest.raises(TaskError, match="^limit must be a positive integer, got 0$"):
        get_task("arith", limit=0)
    f = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "answer": "1"}])
    with pytest.raises(TaskError, match=r"^dataset, split only apply to the hub; task 'math500' reads .*m\.jsonl"):
        get_task("math500:dataset=x/y,split=test", data=str(f))
    with pytest.raises(TaskError, match=r"^task 'file' needs a data file: pass --data FILE"):
        get_task("file")
    with pytest.raises(TaskError, match=r"^file: kind must be one of math, integer, choice, exact, got 'number'$"):
        get_task("file:kind=number", data=str(f))


def test_question_record():
    q = Question("x-1", "p", "A", "choice", {"k": 1})
    assert q.to_dict() == {"id": "x-1", "prompt": "p", "answer": "A", "kind": "choice", "metadata": {"k": 1}}
    with pytest.raises(ValueError):
        Question("x", "p", "1", "float")


# -- local files ---------------------------------------------------------------------------------

MATH_ROWS = [
    {"problem": "What is $1+1$?", "answer": "2", "subject": "Algebra", "level": 1, "unique_id": "test/a/1.json"},
    {"problem": "Simplify $\\frac{2}{4}$.", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 2,
     "unique_id": "test/a/2.json"},
    {"problem": "What is $3^2$?", "answer": "9", "subject": "Prealgebra", "level": 1, "unique_id": "test/b/3.json"},
]


def test_math500_from_jsonl_with_default_fields(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    task = get_task("math500", data="math.jsonl")
    qs = task.load()
    assert [q.id for q in qs] == ["test/a/1.json", "test/a/2.json", "test/b/3.json"]
    assert qs[1].prompt == "Simplify $\\frac{2}{4}$.\n\n" + BOXED
    assert qs[1].answer == "\\frac{1}{2}" and qs[1].kind == "math"
    assert qs[1].metadata == {"subject": "Algebra", "level": 2}
    cfg = task.config()
    assert cfg == {"name": "math500", "version": 1, "source": "file", "path": str(path.resolve()),
                   "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "fields": {}, "limit": None}
    assert [q.id for q in get_task("math500", data="math.jsonl", limit=2).load()] == ["test/a/1.json", "test/a/2.json"]


def test_field_mapping_in_json_and_parquet(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{"question": r["problem"], "solution": r["answer"], "uid": f"u{i}"} for i, r in enumerate(MATH_ROWS)]
    fields = {"prompt": "question", "answer": "solution", "id": "uid"}
    (tmp_path / "m.json").write_text(json.dumps({"questions": rows}))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    for name in ["m.json", "m.parquet"]:
        task = get_task("math500", data=str(tmp_path / name), fields=fields)
        qs = task.load()
        assert [q.id for q in qs] == ["u0", "u1", "u2"]
        assert qs[2].prompt.startswith("What is $3^2$?") and qs[2].answer == "9"
        assert task.config()["fields"] == fields


def test_aime_from_json_and_parquet(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{"id": 60, "problem": "Find x.", "answer": "033", "url": "u", "year": "2024"},
            {"id": 61, "problem": "Find y.", "answer": "204", "url": "v", "year": "2024"}]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    qs = get_task("aime24", data=str(tmp_path / "a.json")).load()
    assert [(q.id, q.answer, q.kind) for q in qs] == [("aime24-0060", "33", "integer"),
                                                      ("aime24-0061", "204", "integer")]
    assert qs[0].metadata == {"url": "u", "year": "2024"}
    # integer answers stored as numbers, no id column, other column names
    table = pa.Table.from_pylist([{"q": "Find z.", "a": 7}, {"q": "Find w.", "a": 12.0}])
    pq.write_table(table, tmp_path / "a.parquet")
    qs = get_task("aime25", data=str(tmp_path / "a.parquet"), fields={"prompt": "q", "answer": "a"}).load()
    assert [(q.id, q.answer) for q in qs] == [("aime25-0000", "7"), ("aime25-0001", "12")]
    (tmp_path / "bad.json").write_text(json.dumps([{"problem": "p", "answer": "1/2"}]))
    with pytest.raises(TaskError) as e:
        get_task("aime24", data=str(tmp_path / "bad.json")).load()
    assert str(e.value) == f"{tmp_path / 'bad.json'}: row 1: answer '1/2' is not an integer (this task grades integers)"


def test_file_task(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "q.jsonl", [{"question": "Pick one.\nA) x\nB) y", "answer": "(b)", "source": "mine"},
                                       {"question": "Pick again.", "answer": "a", "source": "mine"}])
    task = get_task("file:kind=choice", data="q.jsonl")
    qs = task.load()
    assert [(q.id, q.prompt, q.answer, q.kind) for q in qs] == [
        ("file-0000", "Pick one.\nA) x\nB) y", "B", "choice"), ("file-0001", "Pick again.", "A", "choice")]
    assert qs[0].metadata == {"source": "mine"}
    assert task.config()["kind"] == "choice" and task.config()["source"] == "file"
    write_jsonl(tmp_path / "n.jsonl", [{"prompt": "2+2?", "answer": 4, "id": "a"},
                                       {"prompt": "3+3?", "answer": 6, "id": "b"}])
    qs = get_task("file", data="n.jsonl").load()
    assert [(q.id, q.answer, q.kind) for q in qs] == [("a", "4", "math"), ("b", "6", "math")]
    (tmp_path / "lines.json").write_text('{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"}\n')
    assert [q.prompt for q in get_task("file", data="lines.json").load()] == ["a", "b"]  # JSON lines named .json
    (tmp_path / "q.csv").write_text('prompt,answer\n"Two\nlines",5\nthree,3\n')
    qs = get_task("file:kind=integer", data="q.csv").load()
    assert [(q.prompt, q.answer) for q in qs] == [("Two\nlines", "5"), ("three", "3")]


def test_file_errors_name_file_line_and_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.jsonl").write_text('{"problem": "p", "answer": "1"}\n\n{"problem": "q", "answer": "2"}\n'
                                         '{"problem": "r", answer: 3}\n')
    cases = [
        ("data.jsonl", "data.jsonl:4: not valid JSON ("),
        ("list.jsonl", "list.jsonl:2: expected a JSON object, got a list"),
        ("missing.jsonl", "missing.jsonl:2: missing field 'answer' (the answer); columns there: problem, solution"),
        ("empty.jsonl", "empty.jsonl: no rows (the file is empty)"),
        ("blank.jsonl", "blank.jsonl: no rows (the file is empty)"),
        ("empty.json", "empty.json: no rows (the file is empty)"),
        ("broken.json", "broken.json:2: not valid JSON ("),
        ("nope.jsonl", "data file not found: nope.jsonl"),
        ("data.txt", "unsupported data file data.txt: use .jsonl, .json, .parquet or .csv"),
        ("broken.parquet", "broken.parquet: not a readable Parquet file"),
        ("dup.jsonl", "math500: duplicate question id 'x'; map a unique id column"),
        ("list_prompt.jsonl", "list_prompt.jsonl:2: the prompt is not text (got a list)"),
        ("no_answer.jsonl", "no_answer.jsonl:1: empty answer"),
    ]
    write_jsonl(tmp_path / "list_prompt.jsonl", [{"problem": "p", "answer": "1"}, {"problem": ["p"], "answer": "1"}])
    write_jsonl(tmp_path / "no_answer.jsonl", [{"problem": "p", "answer": " "}])
    (tmp_path / "list.jsonl").write_text('{"problem": "p", "answer": "1"}\n[1, 2]\n')
    write_jsonl(tmp_path / "missing.jsonl", [{"problem": "p", "answer": "1"}, {"problem": "q", "solution": "2"}])
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "broken.json").write_text('[{"problem": "p",\n')
    (tmp_path / "data.txt").write_text("x")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    write_jsonl(tmp_path / "dup.jsonl", [{"problem": "p", "answer": "1", "unique_id": "x"},
                                         {"problem": "q", "answer": "2", "unique_id": "x"}])
    for name, msg in cases:
        with pytest.raises(TaskError) as e:
            get_task("math500", data=name).load()
        assert str(e.value).startswith(msg), (name, str(e.value))
    # a mapped id column must be in every row; the first row lacking it is named
    write_jsonl(tmp_path / "ids.jsonl", [{"problem": "p", "answer": "1", "uid": "a"}, {"problem": "q", "answer": "2"}])
    with pytest.raises(TaskError) as e:
        get_task("math500", data="ids.jsonl", fields={"id": "uid"}).load()
    assert str(e.value) == "ids.jsonl:2: missing field 'uid' (the id); columns there: problem, answer"


# -- GPQA ----------------------------------------------------------------------------------------


def gpqa_rows(n):
    return [{"Question": f"Question number {i}?", "Correct Answer": f"right {i}", "Incorrect Answer 1": f"wrong {i}a",
             "Incorrect Answer 2": f"wrong {i}b", "Incorrect Answer 3": f"wrong {i}c", "Record ID": f"rec{i:05d}",
             "Subdomain": "Physics (general)", "High-level domain": "Physics"} for i in range(n)]


def test_gpqa_shuffle_points_to_the_correct_option(tmp_path):
    write_jsonl(tmp_path / "g.jsonl", gpqa_rows(400))
    qs = get_task("gpqa_diamond", data=str(tmp_path / "g.jsonl")).load()
    for i, q in enumerate(qs):
        assert q.kind == "choice" and q.id == f"rec{i:05d}"
        options = dict(re.findall(r"^([ABCD])\) (.*)$", q.prompt, re.M))
        assert list(options) == ["A", "B", "C", "D"]
        assert options[q.answer] == f"right {i}"
        assert sorted(options.values()) == sorted([f"right {i}", f"wrong {i}a", f"wrong {i}b", f"wrong {i}c"])
        assert q.prompt.startswith(f"Question number {i}?\n\nA) ")
        assert q.metadata["options"] == [options[c] for c in "ABCD"]
        assert q.metadata["correct"] == f"right {i}" and q.metadata["seed"] == 0
        assert sorted(q.metadata["permutation"]) == [0, 1, 2, 3]
        assert q.metadata["Subdomain"] == "Physics (general)"
    counts = Counter(q.answer for q in qs)
    assert all(70 <= counts[c] <= 130 for c in "ABCD"), counts  # 400 rows: about 100 each


def test_gpqa_permutation_is_per_seed_and_question(tmp_path):
    write_jsonl(tmp_path / "g.jsonl", gpqa_rows(50))
    data = str(tmp_path / "g.jsonl")
    perm = lambda spec: [q.metadata["permutation"] for q in get_task(spec, data=data).load()]  # noqa: E731
    assert perm("gpqa_diamond:seed=1") == perm("gpqa_diamond:seed=1")
    assert perm("gpqa_diamond") == perm("gpqa_diamond:seed=0")
    assert sum(a != b for a, b in zip(perm("gpqa_diamond:seed=0"), perm("gpqa_diamond:seed=1"))) > 30
    assert len({tuple(p) for p in perm("gpqa_diamond")}) > 10  # not one order for every question
    # the order depends on the question's id, not on its row position
    rows = gpqa_rows(50)[::-1]
    write_jsonl(tmp_path / "r.jsonl", rows)
    by_id = {q.id: q.answer for q in get_task("gpqa_diamond", data=data).load()}
    assert {q.id: q.answer for q in get_task("gpqa_diamond", data=str(tmp_path / "r.jsonl")).load()} == by_id
    cfg = get_task("gpqa_diamond:seed=7", data=data).config()
    assert cfg["seed"] == 7 and cfg["source"] == "file"


def test_gpqa_option_columns_can_be_mapped(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{"q": "Which?", "good": "yes", "bad1": "no", "bad2": "nope", "bad3": "never"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "g.parquet")
    fields = {"prompt": "q", "answer": "good", "incorrect1": "bad1", "incorrect2": "bad2", "incorrect3": "bad3"}
    [q] = get_task("gpqa_diamond", data=str(tmp_path / "g.parquet"), fields=fields).load()
    assert q.id == "gpqa_diamond-0000" and f"{q.answer}) yes" in q.prompt
    with pytest.raises(TaskError) as e:
        get_task("gpqa_diamond", data=str(tmp_path / "g.parquet")).load()
    assert str(e.value) == f"{tmp_path / 'g.parquet'}: row 1: missing field 'Question' (the prompt); " \
                           "columns there: q, good, bad1, bad2, bad3"


# -- the Hugging Face Hub ------------------------------------------------------------------------


def test_offline_hub_gives_a_clear_error(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # conftest sets HF_HUB_OFFLINE=1 too
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path))  # not even a cached copy
    with pytest.raises(TaskError) as e:
        get_task("aime24").load()
    assert str(e.value) == (
        "cannot load HuggingFaceH4/aime_2024: offline mode is on (HF_HUB_OFFLINE is set) and it is not in the "
        "local cache; unset HF_HUB_OFFLINE to download it, or pass a local copy with --data FILE")


def fake_hub(monkeypatch, result):
    datasets = pytest.importorskip("datasets")
    calls = []

    def load_dataset(path, name=None, split=None, revision=None):
        calls.append((path, name, split, revision))
        if isinstance(result, BaseException):
            raise result
        return result

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_rows_become_questions(monkeypatch):
    calls = fake_hub(monkeypatch, gpqa_rows(3))
    qs = get_task("gpqa_diamond:seed=2").load()
    assert calls == [("Idavidrein/gpqa", "gpqa_diamond", "train", None)]
    assert [q.id for q in qs] == ["rec00000", "rec00001", "rec00002"]
    calls = fake_hub(monkeypatch, MATH_ROWS)
    task = get_task("math500:dataset=me/math,split=validation,revision=abc123", limit=2)
    assert [q.id for q in task.load()] == ["test/a/1.json", "test/a/2.json"]
    assert calls == [("me/math", None, "validation", "abc123")]
    assert task.config() == {"name": "math500", "version": 1, "source": "hub", "dataset": "me/math", "subset": None,
                             "split": "validation", "revision": "abc123", "fields": {}, "limit": 2}


def test_hub_errors_are_one_line(monkeypatch):
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    login = "run `hf auth login` (older huggingface_hub: `huggingface-cli login`) or set HF_TOKEN"
    gated = ("Idavidrein/gpqa is a gated dataset: accept its terms at https://huggingface.co/datasets/Idavidrein/gpqa "
             f"while logged in, then {login}")
    response = lambda code: SimpleNamespace(status_code=code, headers={}, request=None)  # noqa: E731
    cases = [
        # what datasets raises for a gated dataset (the hub error under it is dropped)
        (DatasetNotFoundError("Dataset 'Idavidrein/gpqa' is a gated dataset on the Hub. You must be authenticated "
                              "to access it."), "gpqa_diamond", gated),
        (GatedRepoError("403 Client Error. Cannot access gated repo", response=response(403)), "gpqa_diamond", gated),
        (HfHubHTTPError("401 Client Error", response=response(401)), "gpqa_diamond",
         f"no access to Idavidrein/gpqa on the Hugging Face Hub: request it at "
         f"https://huggingface.co/datasets/Idavidrein/gpqa, then {login}"),
        (DatasetNotFoundError("Dataset 'me/nothing' doesn't exist on the Hub or cannot be accessed."),
         "math500:dataset=me/nothing",
         f"dataset me/nothing not found on the Hugging Face Hub (if it is private, {login}); "
         "or pass a local copy with --data FILE"),
        (DatasetNotFoundError("Revision 'abc' doesn't exist for dataset 'HuggingFaceH4/aime_2024' on the Hub."),
         "aime24:revision=abc", "revision 'abc' not found for dataset HuggingFaceH4/aime_2024 on the Hugging Face Hub"),
        (ValueError("Unknown split \"train\". Should be one of ['test']."), "aime25:split=train",
         "math-ai/aime25: split 'train' not found (Unknown split \"train\". Should be one of ['test'].)"),
    ]
    for exc, spec, msg in cases:
        fake_hub(monkeypatch, exc)
        with pytest.raises(TaskError) as e:
            get_task(spec).load()
        assert str(e.value) == msg
    import datasets
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    fake_hub(monkeypatch, ConnectionError("Couldn't reach 'Idavidrein/gpqa' on the Hub (LocalEntryNotFoundError)"))
    with pytest.raises(TaskError) as e:
        get_task("gpqa_diamond").load()
    assert str(e.value) == ("cannot reach the Hugging Face Hub to download Idavidrein/gpqa (no network?); "
                            "pass a local copy with --data FILE")
    fake_hub(monkeypatch, RuntimeError("disk full"))  # not a user error: left as it is
    with pytest.raises(RuntimeError, match="disk full"):
        get_task("gpqa_diamond").load()
