"""`s1 demo --quick`: budget forcing on one question at three thinking budgets, shown as a table and the texts.

    from s1.demo.quick import quick_demo; quick_demo(s1.load(), "How many r are in raspberry?", "smollm2-135m")
"""

from __future__ import annotations

from ..budget import BudgetConfig
from ..generation import SamplingConfig

SETTINGS = [  # (label, budget): the same question, greedy, at three thinking budgets
    ("no budget: the model decides", BudgetConfig(max_answer_tokens=48)),
    ("small: --min-thinking 16 --max-thinking 16",
     BudgetConfig(min_thinking_tokens=16, max_thinking_tokens=16, max_answer_tokens=48)),
    ("large: --min-thinking 128 --max-thinking 160",
     BudgetConfig(min_thinking_tokens=128, max_thinking_tokens=160, max_answer_tokens=48)),
]


def quick_demo(backend, question: str, model_label: str, system: str | None = None) -> None:
    """Generate greedily at each of SETTINGS on `backend` and print what budget forcing did."""
    from rich.console import Console
    from rich.table import Table

    c = Console(width=max(Console().width, 110))
    c.print(f"[bold]s1 budget forcing[/bold] · model {model_label} · template "
            f"{backend.template.name}\nquestion: {question}\n")
    t = Table("setting", "thinking tokens", "stops refused ('Wait')", "cut at max", "answer tokens")
    shown = []
    for name, budget in SETTINGS:
        [r] = backend.generate([question], budget, SamplingConfig(), system=system)
        t.add_row(name, str(r.thinking_tokens), str(r.num_ignored), "yes" if r.thinking_cut else "no",
                  str(r.answer_tokens))
        shown.append((name, r))
    c.print(t)
    for name, r in shown:
        thinking = " ".join(r.thinking.split())
        thinking = thinking if len(thinking) <= 300 else thinking[:140] + " … " + thinking[-140:]
        c.print(f"[bold]{name}[/bold]\n  [dim]thinking:[/dim] {thinking or '(none)'}\n"
                f"  [dim]answer:[/dim] {' '.join(r.answer.split()) or '(none)'}", highlight=False)
