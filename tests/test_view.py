"""s1 view: the pieces of a trace, the page of real eval / curation / training runs, bad input, --serve,
and the page in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium)."""

import io
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from s1.cli import main
from s1.view import serve_page, write_view
from s1.view.trace import pieces

THINKING_KINDS = ("text", "extend", "marker")


def thinking_of(ps):
    return "".join(t for k, t in ps if k in THINKING_KINDS)


# -- pieces of one record (no model) ------------------------------------------------------------

def test_forced_pieces_are_marked_where_the_events_say():
    rec = {"thinking": "4 + 4 = 8Wait, 8 + 1 = 9 so", "thinking_tokens": 14, "thinking_end": "max_thinking",
           "answer": "Final Answer: 9", "events": [{"kind": "extend", "at": 7, "text": "Wait", "char": 9},
                                                   {"kind": "cut", "at": 14, "char": 27}]}
    ps = pieces(rec)
    assert ps == [["text", "4 + 4 = 8"], ["extend", "Wait"], ["text", ", 8 + 1 = 9 so"], ["cut", "cut at 14 tokens"],
                  ["delim", "forced end of thinking (budget reached)"], ["prefix", "Final Answer:"],
                  ["answer", " 9"]]
    # an old record without character positions: the extension is found near its token position
    old = dict(rec, events=[{k: v for k, v in e.items() if k != "char"} for e in rec["events"]])
    assert pieces(old) == ps


def test_a_natural_end_forces_nothing_and_markers_are_found():
    rec = {"thinking": "<|im_start|>2 steps left\nadd them\n\n<|im_start|>1 steps left\n", "thinking_tokens": 14,
           "thinking_steps": 1, "thinking_end": "stop", "answer": "Final Answer: 3",
           "events": [{"kind": "step", "at": 9, "char": 35}, {"kind": "stop", "at": 14, "char": 60}]}
    ps = pieces(rec)
    assert thinking_of(ps) == rec["thinking"]
    assert [k for k, _ in ps] == ["marker", "text", "step", "marker", "stop", "delim", "answer"]
    assert ps[-2] == ["delim", "end of thinking (the model's own)"] and ps[-1] == ["answer", "Final Answer: 3"]


# -- a real eval run on the embedded model -----------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """4 questions, budget forcing at 2 maxima x 0/1 refused stops with a minimum (so "Wait" is forced),
    and step-conditional control (markers): a real run of the embedded model (about 15 s)."""
    out = tmp_path_factory.mktemp("view") / "run"
    assert main(["eval", "--task", "arith:n=4,steps=1,digits=1", "--template", "s1", "--max-thinking", "16,48",
                 "--num-ignore", "0,1", "--min-thinking", "12", "--method", "budget-forcing,step-conditional",
                 "--steps", "1,2", "--max-answer", "16", "--batch-size", "4", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_every_trace_of_a_real_run_is_marked(run_dir):
    recs = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    kinds = set()
    for r in recs:
        ps = pieces(r)
        kinds |= {k for k, _ in ps}
        assert thinking_of(ps) == r["thinking"]  # the marks cut the text, they add or lose nothing
        assert [t for k, t in ps if k == "extend"] == [e["text"] for e in r["events"] if e["kind"] == "extend"]
        assert (["cut", f"cut at {r['thinking_tokens']} tokens"] in ps) == (r["thinking_end"] == "max_thinking")
        assert r["question"]
    assert {"extend", "cut", "marker", "prefix", "delim", "answer"} <= kinds, kinds


@pytest.mark.slow
def test_the_page_is_one_self_contained_file(run_dir, tmp_path, capsys):
    out = tmp_path / "v.html"
    assert main(["view", str(run_dir), "--out", str(out)]) == 0
    page = out.read_text()
    assert page.count("<script") == 2 and "src=\"http" not in page and "href=\"http" not in page
    assert "data:image/png;base64," in page and 'id="f-budget"' in page
    data = json.loads(page.split('id="s1-data">')[1].split("</script>")[0])
    rows = data["runs"][0]["rows"]
    assert len(rows) == 24 and {r["point"] for r in rows} >= {"max=16,ignore=0", "steps=2"}
    assert main(["view", str(run_dir)]) == 0 and (run_dir / "view.html").is_file()  # the default place


@pytest.mark.slow
def test_bad_folders_are_one_line_and_write_nothing(run_dir, tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hi")
    for argv, msg in [([str(tmp_path / "junk")], "is not a run folder"),
                      ([str(tmp_path / "missing")], "no such folder"),
                      ([str(run_dir), str(tmp_path / "junk")], "is not a run folder"),
                      ([str(run_dir), "--out", str(tmp_path)], "is a folder"),
                      ([str(run_dir), "--out", str(tmp_path / "no" / "v.html")], "no such folder")]:
        assert main(["view", *argv, *(["--out", str(tmp_path / "x.html")] if "--out" not in argv else [])]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("s1: error: ") and msg in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk"]  # no page, no half-written file
    damaged = tmp_path / "damaged"
    shutil.copytree(run_dir, damaged, ignore=shutil.ignore_patterns("view.html"))
    (damaged / "summary.json").write_text("{not json")
    assert main(["view", str(damaged)]) == 2 and "damaged run files" in capsys.readouterr().err
    assert not (damaged / "view.html").exists()


@pytest.mark.slow
def test_serve_answers_with_the_page(run_dir, tmp_path):
    """`s1 view RUN --serve`: the page is written and served on localhost until the process is stopped."""
    out = tmp_path / "v.html"
    argv = [sys.executable, "-m", "s1", "view", str(run_dir), "--out", str(out), "--serve", "--port", "0"]
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("serving on "):
            lines.append(p.stderr.readline())
            assert lines[-1], lines  # the process ended without serving
        url = lines[-1].split()[2]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and r.read().decode() == out.read_text()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "other", timeout=10)
    finally:
        p.terminate()
        p.wait(timeout=10)
    server = serve_page("<p>x</p>", port=0)  # a port in use is one clear error
    try:
        assert main(["view", str(run_dir), "--out", str(out), "--serve", "--port", str(server.server_address[1])]) == 2
    finally:
        server.shutdown()
        server.server_close()


# -- curation and training runs ----------------------------------------------------------------

@pytest.fixture(scope="module")
def curate_and_train(tmp_path_factory, tiny_dir):
    """A real `s1 curate run` (built-in pool, no solver) and a real `s1 train` of a tiny model on its selection."""
    from s1.data.pipeline import run
    from s1.train import TrainConfig, train

    root = tmp_path_factory.mktemp("curtrain")
    run({"out": str(root / "curate"), "sources": [{"name": "builtin", "builtin": {"n": 40, "seed": 1}}],
         "decontaminate": {"against": ["arith"]}, "traces": {"teacher": "builtin"}, "featurize": {"solvers": []},
         "select": {"n": 8, "solvers_must_fail": False}}, log=lambda m: None)
    train(TrainConfig(model=str(tiny_dir), data=str(root / "curate" / "s1k.parquet"), out=str(root / "models" / "s1"),
                      epochs=2, global_batch=4, micro_batch=2, max_length=128, save_steps=-1, logging_steps=1),
          progress=False)
    (root / "demo.json").write_text("{}")  # laid out as an s1 demo folder
    return root


@pytest.mark.slow
def test_curation_and_training_runs_get_their_plots(curate_and_train, tmp_path):
    root = curate_and_train
    page = write_view([root / "curate", root / "models" / "s1"], tmp_path / "v.html").read_text()
    assert "Curation: curate" in page and "Training: s1" in page
    assert page.count('class="plot"') == 4  # funnel, domains, trace lengths; the loss curve
    assert "<script>" not in page  # no eval run: no table to drive
    # an s1 demo folder stands for the runs in it
    assert write_view([root], tmp_path / "d.html").read_text().count('class="plot"') == 4


# -- the page in a real browser ------------------------------------------------------------------

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test (skipped, saying why, where it is not installed)."""
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip(f"no headless browser: install Debian's chromium and chromium-driver ({CHROMIUM}, {DRIVER})")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="s1-view-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1800", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as e:  # noqa: BLE001 - a browser that cannot start here (no display libraries ...)
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless chromium did not start: {' '.join(str(e).split())[:200]}")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_the_page_works_in_a_headless_browser(browser, run_dir, tmp_path):
    import numpy as np
    from PIL import Image
    from selenium.webdriver.support.ui import Select

    page = write_view([run_dir], tmp_path / "v.html")
    browser.get(page.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"

    def visible():
        return browser.execute_script("return document.querySelectorAll('#rows tbody tr:not([hidden])').length")

    assert visible() == 24 and browser.find_element("id", "shown").text == "24 of 24 rows"
    Select(browser.find_element("id", "f-method")).select_by_value("budget-forcing")
    assert visible() == 16
    Select(browser.find_element("id", "f-budget")).select_by_value("max=16,ignore=0")
    assert visible() == 4
    Select(browser.find_element("id", "f-correct")).select_by_value("wrong")
    wrong = visible()
    Select(browser.find_element("id", "f-correct")).select_by_value("correct")
    assert 0 < wrong + visible() == 4
    # a trace with a forced "Wait": the extension is marked in the trace panel
    Select(browser.find_element("id", "f-correct")).select_by_value("")
    Select(browser.find_element("id", "f-budget")).select_by_value("")
    for tr in browser.find_elements("css selector", "#rows tbody tr"):
        if browser.execute_script("arguments[0].click(); return document.querySelectorAll('#trace .f-extend').length",
                                  tr):
            break
    assert browser.find_element("css selector", "#trace .f-extend").text == "Wait"
    assert browser.find_elements("css selector", "#trace .f-delim")
    # two budgets side by side, with their shared prefix
    assert len(browser.find_elements("css selector", "#compare .trace")) == 2
    assert browser.find_element("id", "c-shared").text.startswith("shared prefix: ")

    shot = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L"), dtype=float)
    assert shot.shape[0] > 500 and shot.var() > 100  # not a blank page
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
