"""s1 curate traces: a real OpenAI-compatible server on loopback (retries, Retry-After, timeouts, concurrency,
resume after a stop and after Ctrl-C, unreachable endpoint), the builtin teacher and the in-process engine."""

import _thread
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from s1 import TEMPLATES, BudgetConfig
from s1.data import CurateError
from s1.data.schema import row_id
from s1.data.teachers import parse_completion, parse_teacher, split_reply
from s1.data.traces import traces


class Teacher:
    """A fake reasoning model behind /v1/chat/completions. `script[question]` lists what successive
    requests for that question get: "ok", "500", "429" (Retry-After: 0), "400", "401", "sleep" (longer than
    the client's timeout), "think" (the thinking inside <think> in the content); the last entry repeats."""

    def __init__(self, style="reasoning_content", delay=0.02):
        self.style, self.delay = style, delay
        self.script: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.auth: list[str | None] = []
        self.in_flight = self.max_in_flight = 0
        self.interrupt_after = None  # Ctrl-C the test process after this many answered requests
        self.answered = 0
        self.lock = threading.Lock()
        teacher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                teacher.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # a client that gave up (timeout test) is not news
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spec(self, model="r1"):
        return f"openai:{self.url}:{model}"

    def handle(self, h, body):
        q = body["messages"][-1]["content"]
        assert h.path == "/v1/chat/completions" and body["model"] == "r1"
        with self.lock:
            n = self.counts.get(q, 0)
            self.counts[q] = n + 1
            self.auth.append(h.headers.get("Authorization"))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            steps = self.script.get(q, ["ok"])
            action = steps[min(n, len(steps) - 1)]
            time.sleep(self.delay)
            if action == "sleep":
                time.sleep(1.5)
                return
            if action in ("500", "429", "400", "401"):
                payload = json.dumps({"error": {"message": f"nope {action}"}}).encode()
                h.send_response(int(action))
                if action == "429":
                    h.send_header("Retry-After", "0")
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(payload)))
                h.end_headers()
                h.wfile.write(payload)
                return
            thinking, answer = f"Let me think about {q}.", f"The answer to {q} is \\boxed{{7}}."
            if action == "think" or self.style == "think":
                msg = {"role": "assistant", "content": f"<think>\n{thinking}\n</think>\n\n{answer}"}
            else:
                msg = {"role": "assistant", "content": answer, self.style: thinking}
            payload = json.dumps({"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            with self.lock:
                self.answered += 1
                if self.answered == self.interrupt_after:
                    _thread.interrupt_main()  # as if the user pressed Ctrl-C mid-run
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def teacher():
    t = Teacher()
    yield t
    t.close()


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    for k in ("S1_TEACHER_API_KEY", "OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
              "https_proxy", "all_proxy"):
        monkeypatch.delenv(k, raising=False)


def questions(n, prefix="q"):
    return [f"{prefix}{i}: what is {i} + {i}?" for i in range(n)]


def write_input(path, qs, **extra):
    with open(path, "w") as f:
        for i, q in enumerate(qs):
            f.write(json.dumps({"question": q, "solution": f"\\boxed{{{2 * i}}}", "source_type": "test",
                                "metadata": extra.get("metadata", [{}] * len(qs))[i]}) + "\n")
    return path


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


FAST = dict(backoff=0.01, timeout=5)


# -- parsing --------------------------------------------------------------------------------------

def test_parse_teacher_reads_urls_with_colons():
    t = parse_teacher("openai:http://127.0.0.1:8000/v1:my-model")
    assert (t.kind, t.base_url, t.model) == ("openai", "http://127.0.0.1:8000/v1", "my-model")
    t = parse_teacher("openai:https://api.example.com/v1/:qwen2.5:7b")  # a model name with a colon
    assert (t.base_url, t.model) == ("https://api.example.com/v1", "qwen2.5:7b")
    t = parse_teacher("openai:http://localhost:11434:deepseek-r1:14b")  # no path
    assert (t.base_url, t.model) == ("http://localhost:11434", "deepseek-r1:14b")
    t = parse_teacher("openai:http://[::1]:8000/v1/chat/completions:m")  # IPv6, full endpoint given
    assert (t.base_url, t.model) == ("http://[::1]:8000/v1", "m")
    t = parse_teacher("openai:https://user:sk-secret@host.example/v1:m")
    assert t.label == "openai:https://host.example/v1:m" and "secret" not in t.label
    assert parse_teacher("engine:").label == "engine:smollm2-135m"
    assert parse_teacher("engine:Qwen/Qwen2.5-0.5B").model == "Qwen/Qwen2.5-0.5B"
    assert parse_teacher("builtin").kind == "builtin"
    for bad in ("openai:http://127.0.0.1:8000/v1", "openai:my-model", "gpt4", "builtin:x", ""):
        with pytest.raises(CurateError):
            parse_teacher(bad)


def test_replies_split_into_thinking_and_attempt():
    assert split_reply("<think>\nhmm\n</think>\n\nIt is 7.") == ("hmm", "It is 7.")
    assert split_reply("hmm</think>It is 7.") == ("hmm", "It is 7.")  # the template opened <think> itself
    assert split_reply("<think>cut short") == ("cut short", "")
    assert split_reply("<|im_start|>think\nhmm<|im_start|>answer\nIt is 7.") == ("hmm", "It is 7.")
    assert split_reply("just an answer") == (None, "just an answer")
    ok = parse_completion({"choices": [{"message": {"content": "7", "reasoning": "r"}, "finish_reason": "stop"}]})
    assert (ok.thinking, ok.attempt, ok.error) == ("r", "7", None)
    plain = parse_completion({"choices": [{"message": {"content": "7"}}]})
    assert plain.error.startswith("no reasoning") and plain.attempt == "7"
    cut = parse_completion({"choices": [{"message": {"content": "<think>a</think>b"}, "finish_reason": "length"}]})
    assert cut.thinking == "a" and "token limit" in cut.error
    assert parse_completion({"choices": []}).error.startswith("invalid reply")


# -- the OpenAI-compatible teacher ----------------------------------------------------------------

@pytest.mark.parametrize("style", ["reasoning_content", "reasoning", "think"])
def test_rows_get_thinking_attempt_and_teacher_in_input_order(tmp_path, style):
    t = Teacher(style=style)
    try:
        qs = questions(6)
        s = traces(write_input(tmp_path / "in.jsonl", qs), tmp_path / "out.jsonl", t.spec(), concurrency=3, **FAST)
    finally:
        t.close()
    rows = read(tmp_path / "out.jsonl")
    assert [r["question"] for r in rows] == qs  # input order, whatever order the replies came in
    for r in rows:
        assert r["thinking"] == f"Let me think about {r['question']}."
        assert r["attempt"] == f"The answer to {r['question']} is \\boxed{{7}}."
        assert r["trace_error"] is None and r["teacher"] == t.spec() and r["id"] == row_id(r["question"])
        assert r["source_type"] == "test" and r["solution"].startswith("\\boxed")
    assert (s["rows"], s["ok"], s["failed"], s["retried"], s["resumed"], s["complete"]) == (6, 6, 0, 0, 0, True)
    assert not (tmp_path / "out.jsonl.partial.jsonl").exists()  # the work file goes once the output is written


def test_retries_backoff_retry_after_and_per_row_errors(teacher, tmp_path):
    qs = questions(6)
    teacher.script = {qs[0]: ["500", "500", "ok"], qs[1]: ["429", "ok"], qs[2]: ["500"], qs[3]: ["400"],
                      qs[4]: ["sleep", "ok"], qs[5]: ["think"]}
    s = traces(write_input(tmp_path / "in.jsonl", qs), tmp_path / "out.jsonl", teacher.spec(), concurrency=4,
               retries=3, backoff=0.01, timeout=0.4)
    rows = {r["question"]: r for r in read(tmp_path / "out.jsonl")}
    assert teacher.counts == {qs[0]: 3, qs[1]: 2, qs[2]: 4, qs[3]: 1, qs[4]: 2, qs[5]: 1}
    assert rows[qs[0]]["trace_error"] is None and rows[qs[0]]["thinking"].startswith("Let me think")
    assert rows[qs[1]]["trace_error"] is None  # 429 with Retry-After: 0, then served
    assert rows[qs[2]]["trace_error"] == "HTTP 500 after 3 retries"
    assert rows[qs[2]]["thinking"] is None and rows[qs[2]]["attempt"] is None
    assert rows[qs[3]]["trace_error"] == "HTTP 400: nope 400"  # the request is wrong: not tried again
    assert rows[qs[4]]["trace_error"] is None  # timed out once, then answered
    assert rows[qs[5]]["thinking"] == f"Let me think about {qs[5]}."
    assert (s["ok"], s["failed"], s["retried"], s["retried_rows"]) == (4, 2, 2 + 1 + 3 + 1, 4)


def test_timeouts_end_as_a_one_line_row_error(teacher, tmp_path):
    qs = questions(2)
    teacher.script = {qs[1]: ["sleep"]}
    t0 = time.monotonic()
    s = traces(write_input(tmp_path / "in.jsonl", qs), tmp_path / "out.jsonl", teacher.spec(), retries=1,
               backoff=0.01, timeout=0.3)
    rows = read(tmp_path / "out.jsonl")
    assert rows[1]["trace_error"] == "timeout (0.3 s) after 1 retry" and teacher.counts[qs[1]] == 2
    assert rows[0]["trace_error"] is None and (s["ok"], s["failed"]) == (1, 1)
    assert time.monotonic() - t0 < 1.4  # the client gave up at its deadline, not when the server did


def test_requests_run_concurrently_up_to_the_limit(tmp_path):
    t = Teacher(delay=0.1)
    try:
        traces(write_input(tmp_path / "in.jsonl", questions(16)), tmp_path / "out.jsonl", t.spec(),
               concurrency=4, **FAST)
        assert 1 < t.max_in_flight <= 4
        t.max_in_flight = 0
        traces(tmp_path / "in.jsonl", tmp_path / "one.jsonl", t.spec(), concurrency=1, limit=4, **FAST)
        assert t.max_in_flight == 1
    finally:
        t.close()


def test_api_key_is_sent_and_never_recorded(teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("S1_TEACHER_API_KEY", "sk-test-123")
    traces(write_input(tmp_path / "in.jsonl", questions(2)), tmp_path / "out.jsonl", teacher.spec(), **FAST)
    assert teacher.auth == ["Bearer sk-test-123"] * 2
    assert "sk-test-123" not in (tmp_path / "out.jsonl").read_text()


# -- resume ---------------------------------------------------------------------------------------

def test_a_stopped_run_resumes_without_asking_twice(teacher, tmp_path):
    qs = questions(10)
    teacher.script = {qs[7]: ["500"]}  # a recorded failure is finished too
    inp = write_input(tmp_path / "in.jsonl", qs)
    out = tmp_path / "out.jsonl"
    s = traces(inp, out, teacher.spec(), concurrency=2, stop_after=4, retries=1, **FAST)
    assert not s["complete"] and s["new"] == 4 and not out.exists()
    work = tmp_path / "out.jsonl.partial.jsonl"
    finished = {json.loads(x).get("question") for x in work.read_text().splitlines()[1:]}
    assert len(finished) == 4
    before = dict(teacher.counts)
    s = traces(inp, out, teacher.spec(), concurrency=2, retries=1, **FAST)
    assert s["complete"] and s["resumed"] == 4 and s["new"] == 6 and s["rows"] == 10
    for q in qs:
        asked_again = teacher.counts[q] - before.get(q, 0)
        assert asked_again == (0 if q in finished else (2 if q == qs[7] else 1)), q
    # identical to an uninterrupted run
    fresh = Teacher()
    fresh.script = dict(teacher.script)
    try:
        traces(inp, tmp_path / "fresh.jsonl", fresh.spec(), concurrency=3, retries=1, **FAST)
    finally:
        fresh.close()
    strip = lambda rows: [{k: v for k, v in r.items() if k != "teacher"} for r in rows]  # noqa: E731
    assert strip(read(out)) == strip(read(tmp_path / "fresh.jsonl"))
    # a third run, and a run with a larger limit later, never ask again for what is in the output
    before = dict(teacher.counts)
    s = traces(inp, out, teacher.spec(), **FAST)
    assert teacher.counts == before and s["resumed"] == 10 and s["new"] == 0
    # the failure can be asked again on purpose
    teacher.script = {}
    s = traces(inp, out, teacher.spec(), retry_failed=True, **FAST)
    assert s["new"] == 1 and s["failed"] == 0 and teacher.counts[qs[7]] == before[qs[7]] + 1


def test_ctrl_c_mid_run_keeps_finished_rows(teacher, tmp_path):
    qs = questions(12)
    inp = write_input(tmp_path / "in.jsonl", qs)
    out = tmp_path / "out.jsonl"
    teacher.delay = 0.05
    teacher.interrupt_after = 5
    with pytest.raises(KeyboardInterrupt):
        traces(inp, out, teacher.spec(), concurrency=3, **FAST)
    teacher.interrupt_after = None
    work = tmp_path / "out.jsonl.partial.jsonl"
    lines = work.read_text().splitlines()
    finished = {json.loads(x)["question"] for x in lines[1:]}
    assert 1 <= len(finished) < 12 and not out.exists()
    before = dict(teacher.counts)
    s = traces(inp, out, teacher.spec(), concurrency=3, **FAST)
    assert s["complete"] and s["resumed"] == len(finished) and s["rows"] == 12 and s["ok"] == 12
    assert all(teacher.counts[q] == before[q] for q in finished)  # never asked again
    assert [r["question"] for r in read(out)] == qs


def test_a_torn_last_line_is_dropped_and_its_row_asked_again(teacher, tmp_path):
    qs = questions(4)
    inp = write_input(tmp_path / "in.jsonl", qs)
    out = tmp_path / "out.jsonl"
    traces(inp, out, teacher.spec(), stop_after=2, concurrency=1, **FAST)
    work = tmp_path / "out.jsonl.partial.jsonl"
    work.write_text(work.read_text() + '{"id": "q-torn", "question": "half a li')  # killed mid-write
    s = traces(inp, out, teacher.spec(), concurrency=1, **FAST)
    assert s["complete"] and s["resumed"] == 2 and s["rows"] == 4 and all(n == 1 for n in teacher.counts.values())


# -- failures of the whole teacher ----------------------------------------------------------------

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_unreachable_endpoint_stops_with_one_line_and_records_nothing(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    inp = write_input(tmp_path / "in.jsonl", questions(20))
    with pytest.raises(CurateError) as e:
        traces(inp, tmp_path / "out.jsonl", f"openai:{url}:r1", concurrency=4, retries=1, backoff=0.01)
    msg = str(e.value)
    assert msg.startswith(f"teacher endpoint {url}: unreachable") and "\n" not in msg
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.partial.jsonl").exists()
    # fewer rows than K: all failing is as telling
    with pytest.raises(CurateError, match="unreachable"):
        traces(inp, tmp_path / "out.jsonl", f"openai:{url}:r1", limit=2, retries=0)


def test_a_rejected_key_stops_the_run_but_one_bad_row_does_not(teacher, tmp_path):
    qs = questions(10)
    inp = write_input(tmp_path / "in.jsonl", qs)
    teacher.script = {q: ["401"] for q in qs}
    with pytest.raises(CurateError, match=r"HTTP 401: nope 401 \(check S1_TEACHER_API_KEY\)"):
        traces(inp, tmp_path / "out.jsonl", teacher.spec(), concurrency=2, **FAST)
    assert sum(teacher.counts.values()) <= 8 + 2  # stopped after the first K, not after every row
    teacher.script = {qs[0]: ["401"]}  # the first row alone: recorded, the run goes on
    s = traces(inp, tmp_path / "out.jsonl", teacher.spec(), concurrency=1, **FAST)
    assert (s["ok"], s["failed"]) == (9, 1) and read(tmp_path / "out.jsonl")[0]["trace_error"].startswith("HTTP 401")


def test_bad_settings_are_refused(tmp_path, teacher):
    inp = write_input(tmp_path / "in.jsonl", questions(2))
    for kw in (dict(concurrency=0), dict(retries=-1), dict(timeout=0), dict(budget=BudgetConfig(4))):
        with pytest.raises(CurateError):
            traces(inp, tmp_path / "out.jsonl", teacher.spec(), **kw)
    with pytest.raises(CurateError, match="no such file"):
        traces(tmp_path / "missing.jsonl", tmp_path / "out.jsonl", teacher.spec())
    traces(inp, tmp_path / "out.jsonl", teacher.spec(), stop_after=1, **FAST)
    with pytest.raises(CurateError, match="other settings"):  # a half-done run of another teacher
        traces(inp, tmp_path / "out.jsonl", "builtin")


# -- builtin and engine teachers ------------------------------------------------------------------

def test_builtin_teacher_copies_the_worked_traces(tmp_path):
    meta = [{"worked_thinking": "2 and 2 make 4", "worked_attempt": "\\boxed{4}"}, {}]
    inp = write_input(tmp_path / "in.jsonl", ["What is 2+2?", "What is 3+3?"], metadata=meta)
    s = traces(inp, tmp_path / "out.parquet", "builtin")
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert (rows[0]["thinking"], rows[0]["attempt"], rows[0]["trace_error"]) == ("2 and 2 make 4", "\\boxed{4}", None)
    assert rows[1]["trace_error"] == "no built-in trace" and rows[1]["thinking"] is None
    assert all(r["teacher"] == "builtin" for r in rows) and (s["ok"], s["failed"]) == (1, 1)


def test_engine_teacher_runs_batches_through_the_engine(tmp_path, answer_engine):
    qs = questions(5)
    inp = write_input(tmp_path / "in.jsonl", qs)
    budget = BudgetConfig(max_thinking_tokens=12, max_answer_tokens=6)
    s = traces(inp, tmp_path / "out.jsonl", "engine:tiny", concurrency=2, budget=budget, backend=answer_engine)
    rows = read(tmp_path / "out.jsonl")
    direct = answer_engine.generate(qs, budget)
    assert [r["thinking"] for r in rows] == [d.thinking.strip() for d in direct]  # batching changes nothing
    assert [r["attempt"] for r in rows] == [d.answer.strip() for d in direct]
    assert all(r["teacher"] == "engine:tiny" and r["trace_error"] is None for r in rows) and s["ok"] == 5
    assert any(r["thinking"] for r in rows)
    # a resumed run generates nothing new
    s = traces(inp, tmp_path / "out.jsonl", "engine:tiny", budget=budget, backend=answer_engine)
    assert s["new"] == 0 and s["resumed"] == 5


def test_engine_teacher_loads_a_model_folder(tmp_path, answer_engine):
    folder = tmp_path / "tiny-model"
    answer_engine.model.save_pretrained(folder)
    answer_engine.tokenizer.save_pretrained(folder)
    TEMPLATES["s1"].save(folder)
    inp = write_input(tmp_path / "in.jsonl", questions(3))
    s = traces(inp, tmp_path / "out.jsonl", f"engine:{folder}", max_tokens=8, concurrency=2)
    rows = read(tmp_path / "out.jsonl")
    assert s["ok"] == 3 and all(r["teacher"] == f"engine:{folder}" for r in rows)
    assert all(isinstance(r["thinking"], str) and isinstance(r["attempt"], str) for r in rows)
    with pytest.raises(CurateError, match="cannot load model|does not exist"):
        traces(inp, tmp_path / "o2.jsonl", f"engine:{tmp_path / 'nowhere'}")


class Picky:
    """An engine stand-in that fails on any batch holding a question with "bad" in it."""

    def __init__(self):
        self.batches = []

    def generate(self, prompts, budget, batch_size=16):
        self.batches.append(list(prompts))
        if any("bad" in p for p in prompts):
            raise ValueError("prompt longer than the context window")
        return [type("R", (), {"thinking": f" t {p} ", "answer": f" a {p}"})() for p in prompts]


def test_one_failing_row_does_not_fail_its_batch_but_a_broken_engine_stops(tmp_path, capsys):
    qs = ["q1", "q2 bad", "q3", "q4", "q5"]
    eng = Picky()
    s = traces(write_input(tmp_path / "in.jsonl", qs), tmp_path / "out.jsonl", "engine:x", concurrency=4,
               backend=eng, progress=True)
    rows = read(tmp_path / "out.jsonl")
    assert [r["thinking"] for r in rows] == ["t q1", None, "t q3", "t q4", "t q5"]
    assert rows[1]["trace_error"] == "engine error: ValueError: prompt longer than the context window"
    assert eng.batches[0] == qs[:4] and ["q1"] in eng.batches and (s["ok"], s["failed"]) == (4, 1)
    assert "traces" in capsys.readouterr().err  # the progress bar
    with pytest.raises(CurateError, match=r"^teacher engine:x: engine error \(ValueError"):
        traces(write_input(tmp_path / "bad.jsonl", [f"bad {i}" for i in range(9)]), tmp_path / "o.jsonl",
               "engine:x", backend=Picky())
