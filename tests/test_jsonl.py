"""s1.jsonl: what the writers write reads back (line separators inside strings too); errors name file:line."""

import json

import pytest

from s1.jsonl import JSONLError, dumps_line, parse_jsonl, read_jsonl

# every character str.splitlines() breaks at, besides "\n" and "\r" (which json.dumps escapes)
SEPARATORS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"


def test_records_with_unicode_line_separators_read_back(tmp_path):
    recs = [{"prompt": f"one{c}two", "i": i} for i, c in enumerate(SEPARATORS)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(dumps_line(r) for r in recs), encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw, not escaped
    assert [obj for _, obj in read_jsonl(path)] == recs
    assert [n for n, _ in read_jsonl(path)] == list(range(1, len(recs) + 1))
    assert [obj for _, obj in parse_jsonl(path.read_text(encoding="utf-8"), "r")] == recs


def test_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{oops}\n', encoding="utf-8")
    with pytest.raises(JSONLError, match=r"bad\.jsonl:3: expected a JSON object, got a list"):
        list(read_jsonl(path))
    assert [obj for _, obj in read_jsonl(path, objects=False, on_bad=lambda m: None)] == [{"a": 1}, [1, 2]]
    seen = []
    assert [n for n, _ in read_jsonl(path, on_bad=seen.append)] == [1]
    assert seen[0].endswith("bad.jsonl:3: expected a JSON object, got a list")
    assert seen[1].startswith(f"{path}:4: not valid JSON (Expecting property name")
    with pytest.raises(JSONLError, match=r"cannot read .*missing\.jsonl"):
        list(read_jsonl(tmp_path / "missing.jsonl"))
    (tmp_path / "latin.jsonl").write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(JSONLError, match=r"latin\.jsonl: not UTF-8 text"):
        list(read_jsonl(tmp_path / "latin.jsonl"))


def test_a_raw_carriage_return_is_text_not_a_line_end(tmp_path):
    path = tmp_path / "cr.jsonl"
    path.write_bytes(b'{"a": "x"}\r\n{"b": 2}\n')  # Windows line ends read as before
    assert [obj for _, obj in read_jsonl(path)] == [{"a": "x"}, {"b": 2}]
    assert json.loads(dumps_line({"t": "a\rb"})) == {"t": "a\rb"}
