"""Answer grading: take the final answer out of a model's answer text and decide if it matches the gold.

    from s1.grading import grade; grade(r"so \\boxed{\\dfrac12}", "0.5").correct  # True

Kinds: "math" (math-verify, symbolic), "integer" (AIME), "choice" (A-D), "exact" (normalised string).
extraction.py takes the answer out and does the cheap checks (pure); check.py runs them and
math-verify in a helper process with a hard time limit; judge.py is the optional LLM judge;
grader.py puts them together in `grade`, which a model's answer can never make raise or hang.
"""

from .extraction import CHOICE_LETTERS, KINDS, GradingError, extract_answer
from .grader import Verdict, grade, grade_many
from .judge import JUDGE_PROMPT, JUDGE_SYSTEM, Judge

__all__ = ["CHOICE_LETTERS", "JUDGE_PROMPT", "JUDGE_SYSTEM", "KINDS", "GradingError", "Judge", "Verdict",
           "extract_answer", "grade", "grade_many"]
