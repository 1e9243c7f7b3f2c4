"""Evaluation tasks: named question sets (Hub benchmarks, local files, generated puzzles) behind one protocol.

    from s1.tasks import get_task; questions = get_task("arith:n=20,steps=3").load()

A task is `name` or `name:key=value,...` (list_tasks() names them with their keys and defaults).
Every task gives Questions (id, prompt, gold answer, grading kind, metadata) and a JSON config that
fixes them: dataset id/split/revision or file path + sha256, seed and knobs, so a resumed run can
refuse a changed task. Adding a task is one short module that registers a class with @register and
is imported below.
"""

from .base import KINDS, TASKS, Question, Task, TaskError, get_task, list_tasks, parse_spec, register
from . import aime, arith, combinatorics, file, gpqa, letters, math500, rg  # noqa: F401  (they register themselves)

__all__ = ["KINDS", "TASKS", "Question", "Task", "TaskError", "get_task", "list_tasks", "parse_spec", "register"]
