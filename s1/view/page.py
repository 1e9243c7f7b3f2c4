"""The view as one self-contained HTML page: the runs' data as embedded JSON, inline CSS, plain JS, plots
as data: URIs. It loads nothing (no network, no CDN, no other file), so it opens from disk anywhere.

    from s1.view.page import render_page; html = render_page(load_runs(["runs/a"]))

The JS builds the table and the traces from the JSON with textContent (model text is never parsed as
HTML). Element ids the tests drive: #f-run #f-method #f-budget #f-correct #f-search (filters),
#rows (the table), #shown (rows shown), #trace (the selected trace), #c-question #c-method #c-a #c-b
and #compare (two budgets side by side).
"""

from __future__ import annotations

import html
import json

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c5cbd6}main{padding:8px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 18px;margin:16px 0}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:15px;margin:10px 0 6px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #e6e9ef;padding:4px 8px;text-align:left}
th{background:#f0f2f6;position:sticky;top:0}#rows tbody tr{cursor:pointer}#rows tbody tr:hover{background:#eef4ff}
#rows tbody tr.sel{background:#dce8ff}#rows td{white-space:nowrap}
#rows td.muted{max-width:380px;overflow:hidden;text-overflow:ellipsis}
.scroll{max-height:420px;overflow:auto;border:1px solid #e6e9ef}
.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}.num{text-align:right}
.filters{display:flex;gap:14px;flex-wrap:wrap;align-items:end;margin-bottom:8px}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}select,input{font:inherit;padding:2px 4px}
img.plot{max-width:min(100%,720px);height:auto;border:1px solid #eee}.plots{display:flex;flex-wrap:wrap;gap:12px}
.trace{font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;
background:#fbfbfd;border:1px solid #e6e9ef;border-radius:6px;padding:10px}
.thinking{color:#2b3140}.answer{margin-top:6px;color:#0b3d91}
.f-extend{background:#ffd8a8;border-bottom:2px solid #e8590c;border-radius:3px}
.f-marker{background:#e5dbff;border-bottom:2px solid #7048e8;border-radius:3px}
.f-prefix{background:#ffd8a8;outline:1px dashed #e8590c}
.badge{font:11px/1.2 system-ui,sans-serif;border-radius:9px;padding:1px 6px;margin:0 2px;white-space:nowrap;
display:inline-block;vertical-align:baseline}
.f-cut{background:#b3261e;color:#fff}.f-stop{background:#dee2e6;color:#333}.f-step{background:#d0ebff;color:#1864ab}
.f-delim{background:#1d2330;color:#fff;margin:6px 0}.f-part{background:#2f9e44;color:#fff}
.shared{background:#d3f9d8}.legend span{margin-right:10px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}.muted{color:#667085}
"""

JS = r"""
(function () {
"use strict";
var DATA = JSON.parse(document.getElementById("s1-data").textContent);
var ROWS = [];
DATA.runs.forEach(function (run) { if (run.kind === "eval") { run.rows.forEach(function (r) { ROWS.push(r); }); } });
var THINKING = {text: 1, extend: 1, marker: 1};
ROWS.forEach(function (r) {
  r.thinking = r.pieces.filter(function (p) { return THINKING[p[0]]; }).map(function (p) { return p[1]; }).join("");
});

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) { e.className = cls; }
  if (text !== undefined && text !== null) { e.textContent = String(text); }
  return e;
}
function uniq(xs) { var s = []; xs.forEach(function (x) { if (s.indexOf(x) < 0) { s.push(x); } }); return s; }
function fill(select, values, keep) {
  var old = select.value;
  select.textContent = "";
  var all = el("option", null, "all"); all.value = ""; select.appendChild(all);
  values.forEach(function (v) { var o = el("option", null, v); o.value = v; select.appendChild(o); });
  select.value = keep && values.indexOf(old) >= 0 ? old : "";
}
function byBudget(rows) {
  var seen = {};
  rows.forEach(function (r) { if (!(r.point in seen)) { seen[r.point] = r.budget === null ? Infinity : r.budget; } });
  return Object.keys(seen).sort(function (a, b) { return seen[a] - seen[b] || (a < b ? -1 : 1); });
}

// -- a trace: the model's text and the forced pieces -------------------------------------------
function renderTrace(box, pieces, shared) {
  box.textContent = "";
  var think = el("div", "thinking"), answer = el("div", "answer"), pos = 0, parted = shared === undefined;
  function text(parent, cls, t) {
    var n = parted ? 0 : Math.max(0, Math.min(t.length, shared - pos));
    if (n > 0) { parent.appendChild(el("span", cls + " shared", t.slice(0, n))); }
    if (!parted && pos + t.length > shared) {
      parent.appendChild(el("span", "badge f-part", "paths part here"));
      parted = true;
    }
    if (n < t.length) { parent.appendChild(el("span", cls, t.slice(n))); }
    pos += t.length;
  }
  pieces.forEach(function (p) {
    var kind = p[0], t = p[1];
    if (THINKING[kind]) { text(think, kind === "text" ? "" : "f-" + kind, t); }
    else if (kind === "delim") { box.appendChild(think); box.appendChild(el("div", "badge f-delim", t)); }
    else if (kind === "prefix") { answer.appendChild(el("span", "f-prefix", t)); }
    else if (kind === "answer") { answer.appendChild(el("span", "", t)); }
    else { think.appendChild(el("span", "badge f-" + kind, t)); }
  });
  if (!think.parentNode) { box.appendChild(think); }
  var written = pieces.filter(function (p) { return THINKING[p[0]]; }).map(function (p) { return p[1]; }).join("");
  if (pos && !/\S/.test(written)) {  // blank thinking: say so rather than show an empty box
    think.insertBefore(el("span", "muted", "(" + pos + " whitespace characters of thinking)"), think.firstChild);
  }
  box.appendChild(answer);
}
function describe(r) {
  return r.method + " · " + r.point + " · " + r.tokens + " thinking tokens · " + (r.correct ? "correct" : "wrong") +
    " (answer " + (r.extracted === null ? "none" : r.extracted) + ", gold " + r.gold + ")";
}

// -- the table -----------------------------------------------------------------------------------
var body = document.querySelector("#rows tbody"), trace = document.getElementById("trace");
var fRun = document.getElementById("f-run"), fMethod = document.getElementById("f-method"),
    fBudget = document.getElementById("f-budget"), fCorrect = document.getElementById("f-correct"),
    fSearch = document.getElementById("f-search"), shown = document.getElementById("shown");
var several = uniq(ROWS.map(function (r) { return r.run; })).length > 1;
function cell(tr, text, cls) { tr.appendChild(el("td", cls || "", text)); }
ROWS.forEach(function (r, i) {
  var tr = el("tr"); tr.dataset.i = i;
  if (several) { cell(tr, r.run); }
  cell(tr, r.qid); cell(tr, (r.question || "").slice(0, 80), "muted");
  cell(tr, r.method); cell(tr, r.point);
  cell(tr, r.correct ? "\u2713" : "\u2717", r.correct ? "ok" : "bad");
  cell(tr, r.tokens, "num"); cell(tr, r.refused, "num"); cell(tr, r.cut ? "cut" : r.end);
  cell(tr, r.extracted === null ? "" : r.extracted);
  tr.addEventListener("click", function () { select(i); });
  r.tr = tr; body.appendChild(tr);
});
if (!several) { document.getElementById("col-run").remove(); }
function select(i) {
  var r = ROWS[i];
  ROWS.forEach(function (x) { x.tr.classList.toggle("sel", x === r); });
  document.getElementById("trace-title").textContent = r.run + " · " + r.qid + ": " + describe(r);
  document.getElementById("trace-question").textContent = r.question || "(the record has no question text)";
  renderTrace(trace, r.pieces);
  compareTo(r);
}
function apply() {
  var q = fSearch.value.toLowerCase(), n = 0;
  ROWS.forEach(function (r) {
    var ok = (!fRun.value || r.run === fRun.value) && (!fMethod.value || r.method === fMethod.value) &&
      (!fBudget.value || r.point === fBudget.value) &&
      (!fCorrect.value || (fCorrect.value === "correct") === r.correct) &&
      (!q || (r.qid + " " + (r.question || "")).toLowerCase().indexOf(q) >= 0);
    r.tr.hidden = !ok; n += ok ? 1 : 0;
  });
  shown.textContent = n + " of " + ROWS.length + " rows";
}
function budgets() {
  fill(fBudget, byBudget(ROWS.filter(function (r) { return !fMethod.value || r.method === fMethod.value; })), true);
}
fill(fRun, uniq(ROWS.map(function (r) { return r.run; })));
fill(fMethod, uniq(ROWS.map(function (r) { return r.method; })));
budgets();
fRun.addEventListener("change", apply);
fMethod.addEventListener("change", function () { budgets(); apply(); });
[fBudget, fCorrect].forEach(function (s) { s.addEventListener("change", apply); });
fSearch.addEventListener("input", apply);
apply();

// -- one question at two budgets -----------------------------------------------------------------
var cQ = document.getElementById("c-question"), cM = document.getElementById("c-method"),
    cA = document.getElementById("c-a"), cB = document.getElementById("c-b");
function qkey(r) { return r.run + " · " + r.qid + (r.sample ? " #" + r.sample : ""); }
function options(select, values) {
  var old = select.value; select.textContent = "";
  values.forEach(function (v) { var o = el("option", null, v); o.value = v; select.appendChild(o); });
  if (values.indexOf(old) >= 0) { select.value = old; }
}
function group() { return ROWS.filter(function (r) { return qkey(r) === cQ.value && r.method === cM.value; }); }
function points(reset) {
  var pts = byBudget(group());
  options(cA, pts); options(cB, pts);
  if (reset || cA.value === cB.value) { cA.value = pts[0] || ""; cB.value = pts[pts.length - 1] || ""; }
}
function draw() {
  var g = group(), a = g.filter(function (r) { return r.point === cA.value; })[0],
      b = g.filter(function (r) { return r.point === cB.value; })[0], out = document.getElementById("compare");
  out.textContent = "";
  if (!a || !b) { out.appendChild(el("p", "muted", "pick a question with two grid points")); return; }
  var n = 0, s = Math.min(a.thinking.length, b.thinking.length);
  while (n < s && a.thinking[n] === b.thinking[n]) { n += 1; }
  document.getElementById("c-shared").textContent = "shared prefix: " + n + " characters (" +
    Math.round(100 * n / Math.max(1, a.thinking.length)) + "% of the first trace, " +
    Math.round(100 * n / Math.max(1, b.thinking.length)) + "% of the second)";
  [a, b].forEach(function (r) {
    var col = el("div"), box = el("div", "trace");
    col.appendChild(el("h3", null, describe(r))); col.appendChild(box); out.appendChild(col);
    renderTrace(box, r.pieces, n);
  });
}
function compareTo(r) {
  if (!r) { return; }
  cQ.value = qkey(r); methods(); cM.value = r.method; points(true); draw();
}
function methods() {
  options(cM, uniq(ROWS.filter(function (r) { return qkey(r) === cQ.value; }).map(function (r) { return r.method; })));
}
options(cQ, uniq(ROWS.map(qkey)));
cQ.addEventListener("change", function () { methods(); points(true); draw(); });
cM.addEventListener("change", function () { points(true); draw(); });
[cA, cB].forEach(function (s) { s.addEventListener("change", draw); });
if (ROWS.length) {  // first shown: a trace with a forced extension whose question differs across budgets
  var two = ROWS.filter(function (r) {
    return ROWS.some(function (x) {
      return qkey(x) === qkey(r) && x.method === r.method && x.thinking !== r.thinking;
    });
  });
  var waits = function (r) { return r.pieces.some(function (p) { return p[0] === "extend"; }); };
  select(ROWS.indexOf(two.filter(waits)[0] || ROWS.filter(waits)[0] || two[0] || ROWS[0]));
}
})();
"""


def _esc(x) -> str:
    return html.escape("" if x is None else str(x))


def _img(b64: str | None, alt: str) -> str:
    return f'<img class="plot" alt="{_esc(alt)}" src="data:image/png;base64,{b64}">' if b64 else ""


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    def fmt(v):
        return f"{v:.1f}" if isinstance(v, float) else _esc(v)
    head = "".join(f"<th>{_esc(t)}</th>" for _, t in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(k))}</td>" for k, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _eval_sections(evals: list[dict]) -> str:
    runs = "".join(
        f"<h3>{_esc(r['name'])} <span class='muted'>({_esc(r['path'])}: task {_esc(r['task'])}, model "
        f"{_esc(r['model'])}{'' if r['complete'] else ', incomplete'})</span></h3>"
        + _table(r["methods"], [("method", "method"), ("control", "Control %"),
                                ("scaling", "Scaling (pts / doubling)"), ("performance", "Performance %"),
                                ("runs", "grid points")]) for r in evals)
    plot = _img(evals[0].get("scaling_png"), "scaling plot")
    legend = ("<p class='legend'><span class='f-extend'>Wait</span> forced extension (a refused stop) "
              "<span class='f-marker'>marker</span> forced step marker <span class='badge f-step'>step ended</span>"
              "<span class='badge f-stop'>model stopped</span><span class='badge f-cut'>cut</span> "
              "<span class='badge f-delim'>end of thinking</span> <span class='f-prefix'>Final Answer:</span> "
              "forced answer prefix <span class='shared'>shared prefix</span> (side by side)</p>")
    return f"""
<section><h2>Test-time scaling</h2><div class="plots">{plot}</div>{runs}</section>
<section><h2>Questions &times; grid points</h2>
<div class="filters">
<label>run<select id="f-run"></select></label><label>method<select id="f-method"></select></label>
<label>budget (grid point)<select id="f-budget"></select></label>
<label>correctness<select id="f-correct"><option value="">all</option><option value="correct">correct</option>
<option value="wrong">wrong</option></select></label>
<label>question contains<input id="f-search" type="search"></label><span id="shown" class="muted"></span></div>
<div class="scroll"><table id="rows"><thead><tr><th id="col-run">run</th><th>id</th><th>question</th><th>method</th>
<th>grid point</th><th>correct</th><th>thinking tokens</th><th>refused stops</th><th>end</th><th>answer</th>
</tr></thead><tbody></tbody></table></div></section>
<section><h2>Trace</h2>{legend}<h3 id="trace-title"></h3><p id="trace-question" class="muted"></p>
<div id="trace" class="trace"></div></section>
<section><h2>One question at two budgets</h2>
<div class="filters"><label>question<select id="c-question"></select></label>
<label>method<select id="c-method"></select></label><label>first<select id="c-a"></select></label>
<label>second<select id="c-b"></select></label><span id="c-shared" class="muted"></span></div>
<div id="compare" class="cols"></div></section>"""


def _curate_section(r: dict) -> str:
    plots = "".join(_img(b, k) for k, b in r["plots"].items()) or \
        "<p class='muted'>no curation plots yet (the select stage writes them)</p>"
    return (f"<section><h2>Curation: {_esc(r['name'])} <span class='muted'>({_esc(r['path'])})</span></h2>"
            + _table(r["stages"], [("stage", "stage"), ("status", "status"), ("seconds", "seconds"),
                                   ("rows", "rows out")]) + f"<div class='plots'>{plots}</div></section>")


def _train_section(r: dict) -> str:
    facts = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in r["facts"].items())
    plot = _img(r["loss_png"], "training loss") or "<p class='muted'>no loss logged yet</p>"
    return (f"<section><h2>Training: {_esc(r['name'])} <span class='muted'>({_esc(r['path'])})</span></h2>"
            f"<table>{facts}</table><div class='plots'>{plot}</div></section>")


def render_page(runs: list[dict], title: str | None = None) -> str:
    """The page of loaded runs (s1.view.runs.load_runs)."""
    evals = [r for r in runs if r["kind"] == "eval"]
    title = title or "s1 view: " + ", ".join(r["name"] for r in runs)
    parts = [_eval_sections(evals)] if evals else []
    parts += [_curate_section(r) for r in runs if r["kind"] == "curate"]
    parts += [_train_section(r) for r in runs if r["kind"] == "train"]
    data = {"runs": [{"kind": "eval", "name": r["name"], "rows": r["rows"]} for r in evals]}
    # inside <script>, "</" or "<!--" would end or confuse the element: escape every < > & in the JSON
    blob = json.dumps(data, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    script = f"<script>{JS}</script>" if evals else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_esc(title)}</title><style>{CSS}</style></head>
<body><header><h1>{_esc(title)}</h1>
<p>{len(runs)} run(s): {_esc(", ".join(f"{r['name']} ({r['kind']})" for r in runs))}</p></header>
<main>{"".join(parts)}</main>
<script type="application/json" id="s1-data">{blob}</script>{script}</body></html>
"""


__all__ = ["render_page"]
