"""s1 curate, features: the MSC table and offline classifier, the built-in pool (answers recomputed here,
flaws, no overlap with the evaluation tasks) and the featurize stage (token counts, solver verdicts with a
tiny model and a scripted one, the LLM classifier against a local server, resume after a kill)."""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections import Counter
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from helpers import WORDS, smol_tokenizer, tiny_model

import s1
from s1.backends import build
from s1.data import CurateError
from s1.data import featurize as fz
from s1.data.checkpoint import work_path
from s1.data.domains import parse_classifier
from s1.data.featurize import featurize, gold_answer, grade_answer
from s1.data.msc import KEYWORDS, MSC, classify_offline, parse_code
from s1.data.pool import DOMAINS, FLAWS, builtin_pool
from s1.data.rowfiles import iter_rows
from s1.data.schema import row_id


# -- MSC ---------------------------------------------------------------------------------------------

def test_msc_has_all_63_top_level_classes():
    assert len(MSC) == 63
    assert all(re.fullmatch(r"\d\d", c) for c in MSC) and list(MSC) == sorted(MSC)
    assert MSC["05"] == "Combinatorics" and MSC["11"] == "Number theory"
    assert MSC["60"] == "Probability theory and stochastic processes"
    assert MSC["81"] == "Quantum theory" and MSC["97"] == "Mathematics education"
    assert MSC["00"].startswith("General") and MSC["68"] == "Computer science"
    assert "02" not in MSC and "21" not in MSC and "98" not in MSC  # codes that do not exist
    assert set(KEYWORDS) == set(MSC)


@pytest.mark.parametrize("question,code", [
    ("Maya has 30 dollars. She buys 3 notebooks at 4 dollars each. How many dollars does she have left?", "97"),
    ("What is the greatest common divisor of 1071 and 462?", "11"),
    ("Find the remainder when $7^{100}$ is divided by 13.", "11"),
    ("In how many ways can a committee of 3 be chosen from 10 people?", "05"),
    ('How many distinguishable rearrangements does the word "banana" have, using all of its letters?', "05"),
    ("Two fair dice are rolled. What is the probability that the sum is 7? Express your answer as a common "
     "fraction.", "60"),
    ('Count how often the character "r" occurs in the text "strawberry committee".', "68"),
    ("Convert the decimal number 45 to base 2 (binary).", "68"),
    ("Let $f(x) = x^3 - 2x + 1$. Evaluate $f(3)$.", "26"),
    ("What is the sum of the first 10 terms of the arithmetic sequence 3, 7, 11, ...?", "40"),
    ("Find the determinant of the matrix with rows (1, 2) and (3, 4).", "15"),
    ("A particle of mass 2 kg moves with velocity 3 m/s. What is its momentum?", "70"),
    ("What is the capital of France?", "00"),  # nothing mathematical: the documented default
])
def test_classify_offline_on_clear_examples(question, code):
    assert classify_offline(question) == code
    assert classify_offline(question) == classify_offline(question)  # deterministic


def test_parse_code_reads_the_first_valid_code():
    assert parse_code("11") == "11"
    assert parse_code("The best class is **05** (Combinatorics).") == "05"
    assert parse_code("MSC 60J10") == "60"
    assert parse_code("2020") is None and parse_code("99") is None and parse_code("cats") is None


# -- the built-in pool ---------------------------------------------------------------------------------

def recompute(meta: dict) -> str:
    """The answer of a pool question from its parameters, computed here independently of the generators."""
    p, kind = meta["params"], meta["kind"]
    if kind == "money":
        x = p["start"]
        for op, v in p["ops"]:
            x = {"+": x + v, "-": x - v, "/": x // v, "*": x * v}[op]
        return str(x)
    if kind == "gcd":
        return str(math.gcd(p["a"], p["b"]))
    if kind == "modpow":
        return str(pow(p["base"], p["exp"], p["mod"]))
    if kind == "divisors":
        return str(sum(p["n"] % k == 0 for k in range(1, p["n"] + 1)))
    if kind == "choose":
        return str(math.comb(p["m"], p["k"]))
    if kind == "seat":
        return str(math.factorial(p["m"]))
    if kind == "medals":
        return str(math.perm(p["m"], 3))
    if kind == "anagram":
        return str(math.factorial(len(p["word"])) // math.prod(map(math.factorial, Counter(p["word"]).values())))
    if kind == "grid":
        return str(math.comb(p["a"] + p["b"], p["a"]))
    if kind == "subsets":
        return str(2 ** p["m"])
    if kind == "codes":
        return str(p["m"] ** p["k"])
    if kind == "marbles":
        return str(math.comb(p["marbles"] + p["jars"] - 1, p["jars"] - 1))
    if kind == "pairs":
        return str(p["m"] * (p["m"] - 1) // 2)
    if kind == "dice" and meta["generator"] == "combinatorics":
        return str(sum(sum(r) == p["total"] for r in itertools.product(range(1, p["sides"] + 1), repeat=p["dice"])))
    if kind == "dice":
        outs = list(itertools.product(range(1, p["sides"] + 1), repeat=p["dice"]))
        f = Fraction(sum(sum(r) == p["total"] for r in outs), len(outs))
        return f"{f.numerator}/{f.denominator}"
    if kind == "urn":
        balls = ["a"] * p["a"] + ["b"] * p["b"]
        draws = list(itertools.permutations(range(len(balls)), p["draws"]))
        f = Fraction(sum(all(balls[i] == "a" for i in d) for d in draws), len(draws))
        return f"{f.numerator}/{f.denominator}"
    if kind == "coins":
        seqs = list(itertools.product("HT", repeat=p["n"]))
        ok = (lambda h: h >= p["k"]) if p["at_least"] else (lambda h: h == p["k"])
        f = Fraction(sum(ok(s.count("H")) for s in seqs), len(seqs))
        return f"{f.numerator}/{f.denominator}"
    if kind == "binary":
        return bin(p["n"])[2:]
    if kind == "count":
        return str(p["text"].count(p["letter"]))
    if kind == "vowels":
        return str(sum(c in "aeiou" for c in p["text"]))
    if kind == "evaluate":
        return str(sum(c * p["x"] ** i for i, c in enumerate(p["coeffs"])))
    if kind == "arithmetic":
        return str(sum(p["a"] + i * p["r"] for i in range(p["n"])))
    if kind == "geometric":
        return str(sum(p["a"] * p["r"] ** i for i in range(p["n"])))
    raise AssertionError(f"unknown kind {kind}")


@pytest.fixture(scope="module")
def pool():
    return builtin_pool(300, seed=0)


def test_builtin_pool_is_deterministic_and_in_the_schema(pool):
    assert builtin_pool(300, seed=0) == pool
    assert builtin_pool(40, seed=0) == pool[:40]  # a smaller n is a prefix
    assert builtin_pool(40, seed=1) != pool[:40]
    assert len({r["id"] for r in pool}) == len(pool)
    for r in pool:
        assert r["id"] == row_id(r["question"]) and r["cot_type"] == "math"
        assert r["source_type"] == f"builtin/{r['metadata']['generator']}"
        assert set(r["metadata"]) >= {"worked_thinking", "worked_attempt", "difficulty", "domain_hint", "flaw"}
        assert r["metadata"]["domain_hint"] == DOMAINS[r["metadata"]["generator"]]
        json.dumps(r)  # plain JSON all the way down


def test_builtin_pool_answers_are_right(pool):
    for r in pool:
        meta = r["metadata"]
        answer = recompute(meta)
        assert meta["answer"] == answer, r["question"]
        boxed = gold_answer(r["solution"])
        if "/" in answer:
            num, den = answer.split("/")
            assert boxed == f"\\frac{{{num}}}{{{den}}}"
        else:
            assert boxed == answer
        if meta["worked_thinking"] is not None:
            assert meta["worked_thinking"].endswith(f"So the answer is {answer}.")
            assert gold_answer(meta["worked_attempt"]) == boxed


def test_builtin_pool_spans_domains_difficulties_and_lengths(pool):
    assert len({r["metadata"]["domain_hint"] for r in pool}) >= 5
    # the offline classifier finds the generator's own domain for the pool's questions
    assert all(classify_offline(r["question"]) == r["metadata"]["domain_hint"] for r in pool)
    tok = smol_tokenizer()
    by_level: dict[int, list[int]] = {}
    for r in pool:
        if r["metadata"]["worked_thinking"]:
            n = len(tok.encode(r["metadata"]["worked_thinking"], add_special_tokens=False))
            by_level.setdefault(r["metadata"]["difficulty"], []).append(n)
    lengths = [n for ns in by_level.values() for n in ns]
    assert min(lengths) <= 40 and max(lengths) >= 400 and max(lengths) / min(lengths) >= 10
    mean = {d: sum(ns) / len(ns) for d, ns in by_level.items()}
    assert sorted(mean) == [1, 2, 3, 4, 5] and mean[5] > 2 * mean[1]  # harder: longer traces


def test_builtin_pool_has_marked_flawed_rows(pool):
    flawed = [r for r in pool if r["metadata"]["flaw"]]
    assert {r["metadata"]["flaw"] for r in flawed} == set(FLAWS)
    assert 0.02 <= len(flawed) / len(pool) <= 0.08
    item = re.compile(r"^(\d+)\. ", re.M)
    for r in pool:
        flaw, meta = r["metadata"]["flaw"], r["metadata"]
        assert ("[asy]" in r["question"]) == (flaw == "asymptote")
        assert ("![" in r["question"]) == (flaw == "image_reference")
        assert (meta["worked_thinking"] is None) == (flaw == "missing_trace")
        for text in (r["question"], meta["worked_thinking"] or ""):
            nums = [int(k) for k in item.findall(text)]
            skips = any(b not in (a + 1, 1) for a, b in zip(nums, nums[1:]))
            assert skips == (flaw == "broken_numbering")  # 1. 2. 4. in the question and in the trace
    assert not any(r["metadata"]["flaw"] for r in builtin_pool(100, flaw_every=0))


def _ngrams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = re.sub(r"[^0-9a-z]+", " ", text.lower()).split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_builtin_pool_shares_no_8gram_with_the_generated_eval_tasks(pool):
    from s1.tasks import get_task

    index = set()
    for spec in ("arith:n=300", "letters:n=300,length=3", "combinatorics:n=300", "combinatorics:n=100,size=3",
                 "combinatorics:n=300,size=10"):
        for q in get_task(spec).load():
            index |= _ngrams(q.prompt)
    assert not [r["question"] for r in builtin_pool(700) if _ngrams(r["question"]) & index]


# -- grading (the helper the stage uses) -------------------------------------------------------------------

def test_gold_and_grading_helper():
    assert gold_answer("so the answer is $\\boxed{5}$.") == "5"
    assert gold_answer("5") == "5" and gold_answer("") is None and gold_answer(None) is None
    assert grade_answer("\\boxed{5}", "Since 2 + 3 = 5, the answer is $\\boxed{5}$.") is True
    assert grade_answer("I think \\boxed{6}", "the answer is $\\boxed{5}$.") is False
    assert grade_answer("\\boxed{0.375}", "$\\boxed{\\frac{3}{8}}$") is True
    assert grade_answer("\\boxed{5}", "") is None  # nothing to grade against: unknown, not wrong


# -- featurize ---------------------------------------------------------------------------------------------

def traced(rows: list[dict]) -> list[dict]:
    """What the traces stage with teacher "builtin" makes of pool rows: the worked trace as thinking/attempt."""
    return [dict(r, thinking=r["metadata"]["worked_thinking"], attempt=r["metadata"]["worked_attempt"])
            for r in rows]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path



@pytest.fixture
def rows(pool):
    clean = [r for r in pool if r["metadata"]["flaw"] is None]
    return traced(clean[:10] + [r for r in pool if r["metadata"]["flaw"] == "missing_trace"][:1])


def test_featurize_with_a_tiny_model_as_solver(tiny_dir, rows, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "features.parquet"
    stats = featurize(inp, out, tokenizer=str(tiny_dir), solvers=[str(tiny_dir)], solver_budget=12,
                      batch_size=4, answer_tokens=16)
    got = list(iter_rows(out))
    assert [r["id"] for r in got] == [r["id"] for r in rows]  # input order kept
    assert not work_path(out).exists()
    tok = smol_tokenizer()
    for src, r in zip(rows, got):
        if src["thinking"] is None:
            assert r["trace_tokens"] is None
        else:
            assert r["trace_tokens"] == len(tok.encode(src["thinking"], add_special_tokens=False))
        assert set(r["solver_correct"]) == {str(tiny_dir)}
        assert isinstance(r["solver_correct"][str(tiny_dir)], bool)
        assert r["domain"] == classify_offline(r["question"]) and r["domain_name"] == MSC[r["domain"]]
        assert r["domain_source"] == "offline" and r["feature_error"] is None
        assert r["metadata"] == src["metadata"]  # the row passes through
    assert stats["rows"] == len(rows) and stats["with_trace"] == len(rows) - 1 and stats["new"] == len(rows)
    assert sum(stats["domains"].values()) == len(rows)
    assert stats["solved"][str(tiny_dir)] == sum(r["solver_correct"][str(tiny_dir)] for r in got)


class ScriptedEngine:
    """Stands in for s1.load(spec): answers right for questions in `right`, wrong otherwise; fails on `bad`."""

    def __init__(self, answers: dict[str, str], right: set[str], bad: set[str] = frozenset()):
        self.answers, self.right, self.bad, self.prompts = answers, right, bad, []

    def generate(self, prompts, budget, thinking, batch_size=16):
        assert budget.max_thinking_tokens == 7 and thinking.temperature == 0
        out = []
        for p in prompts:
            self.prompts.append(p)
            q = p.rsplit("\n\nThink step by step", 1)[0]
            if q in self.bad:
                raise ValueError("prompt too long for the context window")
            a = self.answers[q] if q in self.right else "12345"
            out.append(SimpleNamespace(thinking="hmm", answer=f"The answer is \\boxed{{{a}}}."))
        return out


def test_solver_verdicts_are_graded_against_the_solution(rows, tmp_path, monkeypatch):
    answers = {r["question"]: gold_answer(r["solution"]) for r in rows}  # e.g. "\\frac{1}{6}" or "42"
    right = {r["question"] for r in rows[::2]}
    bad = {rows[3]["question"]}
    engine = ScriptedEngine(answers, right, bad)
    monkeypatch.setattr(build, "load_engine", lambda spec, *rest: engine)  # what load_spec("scripted") ends in
    nosol = dict(rows[1], solution="")  # no gold: the solver is not even asked
    data = [r for i, r in enumerate(rows) if i != 1] + [nosol]
    inp = write_jsonl(tmp_path / "in.jsonl", data)
    stats = featurize(inp, tmp_path / "out.jsonl", solvers=["scripted"], solver_budget=7, batch_size=4)
    got = {r["id"]: r for r in iter_rows(tmp_path / "out.jsonl")}
    for r in data:
        verdict, err = got[r["id"]]["solver_correct"]["scripted"], got[r["id"]]["feature_error"]
        if r is nosol:
            assert verdict is None and err is None
        elif r["question"] in bad:  # its batch failed, the others in it were retried one by one
            assert verdict is None and "context window" in err
        else:
            assert verdict is (r["question"] in right) and err is None
    assert not any(nosol["question"] in p for p in engine.prompts)
    assert stats["feature_errors"] == 1 and stats["unknown"]["scripted"] == 2
    assert stats["solved"]["scripted"] == len(right - bad - {nosol["question"]})


class _Reply(BaseHTTPRequestHandler):
    reply = "11"
    seen: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": type(self).reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_Reply,), {"reply": "11", "seen": []})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("reply,expect", [("11", "llm"), ("<think>maybe 05?</think>**60**", "llm"),
                                          ("I would say it is about cats.", "fallback")])
def test_llm_classifier_and_its_offline_fallback(server, rows, tmp_path, reply, expect):
    handler, url = server
    handler.reply = reply
    inp = write_jsonl(tmp_path / "in.jsonl", rows[:3])
    stats = featurize(inp, tmp_path / "out.jsonl", tokenizer=None, classifier=f"openai:{url}:my:model")
    got = list(iter_rows(tmp_path / "out.jsonl"))
    assert len(handler.seen) == 3 and handler.seen[0]["model"] == "my:model"
    prompt = handler.seen[0]["messages"][-1]["content"]
    assert "05 Combinatorics" in prompt and "97 Mathematics education" in prompt
    assert any(r["question"] in m["messages"][-1]["content"] for r in rows[:3] for m in handler.seen)
    for r in got:
        if expect == "llm":
            assert r["domain"] == ("11" if reply == "11" else "60") and r["domain_source"] == "llm"
        else:
            assert r["domain"] == classify_offline(r["question"])
            assert r["domain_source"].startswith("offline (classifier reply not an MSC code")
        assert r["domain_name"] == MSC[r["domain"]] and r["feature_error"] is None
    assert stats["domain_sources"] == ({"llm": 3} if expect == "llm" else {"offline (fallback)": 3})


def test_unreachable_classifier_falls_back_too(rows, tmp_path):
    clf = parse_classifier("openai:http://127.0.0.1:9/v1:m")  # port 9 (discard): nothing listens
    clf.retries = 0
    code, source = clf.classify(rows[0])
    assert code == classify_offline(rows[0]["question"]) and source.startswith("offline (classifier failed")


def test_classifier_specs():
    c = parse_classifier("openai:http://localhost:8000/v1:qwen2.5:7b")
    assert (c.base_url, c.model) == ("http://localhost:8000/v1", "qwen2.5:7b")
    c = parse_classifier("openai:https://user:key@api.example.com/v1/chat/completions:gpt")
    assert c.base_url == "https://user:key@api.example.com/v1" and "key" not in c.label
    assert parse_classifier("offline").kind == "offline" and parse_classifier("hint").kind == "hint"
    for bad in ("openai:http://localhost:8000/v1", "claude", "openai:localhost:m"):
        with pytest.raises(CurateError):
            parse_classifier(bad)


def test_hint_classifier_uses_the_pool_domain(rows, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    featurize(inp, tmp_path / "out.jsonl", classifier="hint")
    for src, r in zip(rows, iter_rows(tmp_path / "out.jsonl")):
        assert r["domain"] == src["metadata"]["domain_hint"] and r["domain_source"] == "hint"


def test_resume_after_a_kill_equals_an_uninterrupted_run(pool, tmp_path, monkeypatch):
    data = traced(pool[:23])
    inp = write_jsonl(tmp_path / "in.jsonl", data)
    featurize(inp, tmp_path / "straight.jsonl", batch_size=5)

    real, calls = fz._features, []

    def dying(batch, *a, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the third batch
        calls.append([r["id"] for r in batch])
        return real(batch, *a, **kw)

    out = tmp_path / "resumed.jsonl"
    monkeypatch.setattr(fz, "_features", dying)
    with pytest.raises(KeyboardInterrupt):
        featurize(inp, out, batch_size=5)
    assert not out.exists() and work_path(out).exists()
    monkeypatch.setattr(fz, "_features", real)
    with pytest.raises(CurateError, match="other settings"):  # a changed setting does not mix into the work file
        featurize(inp, out, batch_size=5, solver_budget=99)
    stats = featurize(inp, out, batch_size=5)
    assert stats["resumed"] == 10 and stats["new"] == 13 and stats["rows"] == 23
    assert out.read_text() == (tmp_path / "straight.jsonl").read_text()
    assert not work_path(out).exists()
