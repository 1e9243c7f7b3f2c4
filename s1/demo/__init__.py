"""`s1 demo`: the s1 story in miniature, a recipe of public `s1` commands run resumably, then a report folder.

    from s1.demo import load_recipe, run_recipe; run_recipe(load_recipe("recipes/demo.yaml", "demo-run"))

recipe.py reads and expands a recipe, runner.py runs its stages (through s1.stages), summary.py writes
DIR/report/ (summary.md, plots, stage times) from what the stages left on disk.
"""

from __future__ import annotations

from .recipe import DemoError, Recipe, RecipeStage, load_recipe
from .runner import run_recipe
from .summary import write_report

__all__ = ["DemoError", "Recipe", "RecipeStage", "load_recipe", "run_recipe", "write_report"]
