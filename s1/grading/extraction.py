"""Answer extraction and the cheap equivalence checks: pure functions over strings, standard library only.

    from s1.grading.extraction import extract_answer; extract_answer(r"so \\boxed{7}", "integer")  # "7"

Not time-bounded by itself: `s1.grading.grade` runs these inside the bounded check worker
(s1/grading/check.py loads this file by path there, so it must import nothing of ours).
"""

from __future__ import annotations

import re

# "rg": a reasoning-gym question, extracted like "exact" and decided by the dataset's own verifier
KINDS = ("math", "integer", "choice", "exact", "rg")
CHOICE_LETTERS = "ABCD"  # letters the choice fallback looks for in free text


class GradingError(Exception):
    """A problem the user can fix (unknown kind, malformed gold, unreachable judge); one-line message."""


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise GradingError(f"unknown answer kind {kind!r}; expected one of {', '.join(KINDS)}")


_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# "Answer:", "Final Answer:", "**Answer:**", "**Answer**:", and the Minerva-style "The final answer is X".
_MARKER_RE = re.compile(
    r"(?i)(?:\b(?:final\s+)?answer\s*(?:\*\*|__)?\s*[:：]|\bfinal\s+answer\s+is\b\s*:?)"
)
_HOPE_RE = re.compile(r"(?i)\.?\s*I hope it is correct\.?\s*$")
# A number not glued to a word or to a decimal point on its left; "-" only as a sign (not in "5-3").
_NUMBER = r"(?<![\w.])(?:-(?=\d))?\d+(?:,\d{3})*(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_MATH_NUMBER_RE = re.compile(_NUMBER + r"(?:\s*/\s*\d+)?")  # also a plain fraction "1/2"
_MATH_OPEN_RE = re.compile(r"\$|\\\(|\\\[")
# At one position, the delimiter pairs tried in order ("$$" first, then "$" as in "$$x$").
_MATH_PAIRS = {"$": (("$$", "$$"), ("$", "$")), "\\(": (("\\(", "\\)"),), "\\[": (("\\[", "\\]"),)}
_CHOICE_STRUCTURED = [
    re.compile(rf"(?i:answer|option|choice)\s*(?i:is|:)?\s*(?i:option\s*)?\**\(?([{CHOICE_LETTERS}])\b"),
    re.compile(rf"\(([{CHOICE_LETTERS}])\)"),
    re.compile(rf"(?<![A-Za-z0-9(])([{CHOICE_LETTERS}])\)"),
    re.compile(rf"\*\*\(?([{CHOICE_LETTERS}])\)?\*\*"),
]
# A bare capital letter counts only at the end of a line or before punctuation, so the article in
# "A triangle has..." is not read as option A.
_CHOICE_BARE = re.compile(rf"(?m)(?<![A-Za-z0-9])([{CHOICE_LETTERS}])(?=[ \t]*(?:$|[.,;:!?]))")
_EMPTY_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(?:\{\s*\})?")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")


def _closing_braces(s: str) -> dict[int, int]:
    """Index of each "{" -> index of the brace closing it (escaped braces skipped), in one pass:
    scanning from every box separately was quadratic on text full of unclosed boxes."""
    match, stack, j = {}, [], 0
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            stack.append(j)
        elif c == "}" and stack:
            match[stack.pop()] = j
        j += 1
    return match


def boxed_contents(text: str) -> list[str]:
    """Contents of the top-level \\boxed{...} / \\fbox{...} (or "\\boxed 5") in order of appearance."""
    out, pos, closing = [], 0, None
    while m := _BOX_RE.search(text, pos):
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            if closing is None:
                closing = _closing_braces(text)
            end = closing.get(i)
            if end is None:  # cut off mid-box (truncated generation): no answer in it
                pos = m.end()
                continue
            out.append(text[i + 1:end])
            pos = end + 1
        else:
            tok = re.match(r"[^\s$]*", text[i:]).group()
            out.append(tok)
            pos = i + max(len(tok), 1)
    return out


def _unwrap_math(s: str) -> str:
    """Drop one pair of math delimiters around the whole string ($..$, $$..$$, \\(..\\), \\[..\\])."""
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            inner = s[len(left):len(s) - len(right)]
            if "$" not in inner:  # "$x$ and $y$" is two formulas, not one wrapped one
                return inner.strip()
    return s


def tidy(s: str) -> str:
    """Strip surrounding markdown emphasis, code ticks, a trailing period and math delimiters."""
    prev = None
    while s != prev:
        prev = s
        s = s.strip().strip("*_`").strip()
        if s.endswith(".") and not s.endswith("\\."):
            s = s[:-1]
        s = _unwrap_math(s)
    return s


def _after_last_marker(text: str) -> str | None:
    marks = list(_MARKER_RE.finditer(text))
    if not marks:
        return None
    rest = _HOPE_RE.sub("", text[marks[-1].end():]).lstrip()
    # A displayed formula on the following lines is the answer, not just its first line.
    for left, right in (("$$", "$$"), ("\\[", "\\]")):
        if rest.startswith(left):
            end = rest.find(right, len(left))
            if end != -1:
                return rest[:end + len(right)]
    for line in rest.splitlines():
        if line.strip():
            return line
    return None


def last_choice(text: str) -> str | None:
    best = None  # (end position, letter) of the last structured match
    for pat in _CHOICE_STRUCTURED:
        for m in pat.finditer(text):
            if best is None or m.end(1) > best[0]:
                best = (m.end(1), m.group(1))
    if best is not None:
        return best[1]
    bare = _CHOICE_BARE.findall(text)
    return bare[-1] if bare else None


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inside) of each formula ($$..$$, $..$, \\(..\\), \\[..\\]), left to right, as
    non-overlapping non-empty spans. Linear: a closer that is absent from some point on is not
    searched for again (a lazy regex rescans to the end from every unclosed opener)."""
    spans, pos, absent = [], 0, {}  # closer -> position from which it does not occur
    while m := _MATH_OPEN_RE.search(text, pos):
        p, found = m.start(), None
        for left, right in _MATH_PAIRS[m.group()]:
            if not text.startswith(left, p):
                continue
            frm = p + len(left) + 1  # at least one character inside
            if absent.get(right, len(text) + 1) <= frm:
                continue
            j = text.find(right, frm)
            if j == -1:
                absent[right] = min(absent.get(right, len(text) + 1), frm)
                continue
            found = (p, j + len(right), text[p + len(left):j])
            break
        if found is None:
            pos = p + 1
            continue
        spans.append(found)
        pos = found[1]
    return spans


def _last_math(text: str) -> str | None:
    spans = _math_spans(text)
    cands = [(end, inside) for _, end, inside in spans]
    # Numbers inside a formula belong to that formula; look for bare ones outside formulas only.
    parts, prev = [], 0
    for start, end, _ in spans:
        parts += [text[prev:start], " " * (end - start)]
        prev = end
    outside = "".join(parts) + text[prev:]
    cands += [(m.end(), m.group()) for m in _MATH_NUMBER_RE.finditer(outside)]
    return max(cands)[1] if cands else None


def _fallback(text: str, kind: str) -> str | None:
    if kind == "integer":
        nums = _NUMBER_RE.findall(text)
        return nums[-1] if nums else None
    if kind == "choice":
        return last_choice(text)
    if kind == "math":
        return _last_math(text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def extract_answer(text: str, kind: str = "math") -> str | None:
    """The final answer in `text` (the answer part of a response, not its thinking): the last
    \\boxed{}, else what follows the last "Answer:", else a kind-specific guess. None if nothing."""
    check_kind(kind)
    if not text:
        return None
    for raw in (
        next((b for b in reversed(boxed_contents(text)) if b.strip()), None),
        _after_last_marker(text),
        _fallback(text, kind),
    ):
        if raw is not None and (s := tidy(raw)) and not _EMPTY_BOX_RE.fullmatch(s):
            return s
    return None


# ----------------------------------------------------------------------------------------------
# Equivalence decided without math-verify (integer, choice, exact, and the fast path of math)

_INT_RE = re.compile(r"([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?")


def _int_of(m: re.Match) -> int:
    return int(m.group(1) + m.group(2).replace(",", ""))


def as_int(s: str) -> int | None:
    """An integer written in s ("042", "42.", "$42$", "\\boxed{42}", "1,000", "n = 42"); else None."""
    boxes = boxed_contents(s)
    t = boxes[-1] if boxes else s
    t = _TEXT_CMD_RE.sub(r"\1", t).replace("{,}", ",")
    t = re.sub(r"\\[!,;: ]|[\s$]", "", t).rstrip(".")
    t = t.rsplit("=", 1)[-1]  # "4 - 8 = -4": the value after the last equals sign
    if m := _INT_RE.fullmatch(t):
        return _int_of(m)
    # One number and nothing else numeric ("x = 42", "42 apples") is unambiguous; "3 or 5" is not.
    nums = _NUMBER_RE.findall(s)
    if len(nums) == 1 and (m := _INT_RE.fullmatch(nums[0])):
        return _int_of(m)
    return None


def as_letter(s: str) -> str | None:
    """The option letter of "B", "(B)", "(B) 3.5", "B. foo", "\\text{(B)}", "**B**"; else None."""
    t = _TEXT_CMD_RE.sub(r"\1", s).strip().strip("*_$` ").strip()
    if m := re.fullmatch(r"\(?([A-Za-z])\)?\.?", t):  # a lone letter may be lower case
        return m.group(1).upper()
    if m := re.match(r"\(?([A-Z])(?:\)|\.|:|(?![A-Za-z]))", t):
        return m.group(1)
    return last_choice(t)


def norm_exact(s: str) -> str:
    return " ".join(s.split()).casefold().rstrip(".").strip()


_LATEX_NOISE_RE = re.compile(r"\\left|\\right|\\[!,;: ]|\s|\$")


def norm_math(s: str) -> str:
    """Cheap canonical form used only to short-cut identical strings before math-verify."""
    s = _LATEX_NOISE_RE.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return s.rstrip(".")


def math_source(s: str) -> str:
    """What math-verify parses: the string itself if it carries its own delimiters, else $s$
    (measured: "$...$" parses more forms than \\boxed{} or bare text, e.g. prose around a number)."""
    if "$" in s or "\\(" in s or "\\[" in s or "\\boxed" in s or "\\fbox" in s:
        return s
    return f"${s}$"


def gold_core(gold: str) -> str:
    """The gold answer of a math question: the last box of a worked solution, else the whole text."""
    boxes = [b for b in boxed_contents(gold) if b.strip()]
    return tidy(boxes[-1]) if boxes else tidy(gold)


def compare(extracted: str, gold: str, kind: str) -> tuple[bool, str] | None:
    """(correct, method) decided here, or None: a math pair only math-verify can decide."""
    if kind == "integer":
        want = as_int(gold)
        if want is None:
            raise GradingError(f"integer kind needs an integer gold answer, got {gold!r}")
        return as_int(extracted) == want, "integer"
    if kind == "choice":
        want = as_letter(gold)
        if want is None:
            raise GradingError(f"choice kind needs a letter as gold answer, got {gold!r}")
        return as_letter(extracted) == want, "choice"
    if kind == "exact":
        return norm_exact(extracted) == norm_exact(gold), "exact"
    if norm_math(extracted) == norm_math(gold_core(gold)) != "":
        return True, "exact"
    return None
