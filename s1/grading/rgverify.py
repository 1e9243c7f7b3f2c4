"""reasoning-gym's own verifiers: rebuild a question's dataset and score an answer with its `score_answer`.

    from s1.grading.rgverify import score; score("42", {"dataset": "basic_arithmetic", "config": {...},
                                                         "entry": {"question": ..., "answer": "42", "metadata": {...}}})

A reasoning-gym question carries everything its verifier needs as JSON (s1.tasks.rg writes it into the
question's metadata["rg"], s1.data.rg_source into a pool row's): the dataset name, the settings it was
drawn with, and the entry itself (question, answer, metadata). The grading helper process loads this
file by path (standard library and reasoning_gym only, nothing of ours), so a slow verifier is bounded
by the same time limit as every other check.
"""

from __future__ import annotations

import dataclasses
import json

RG_INSTALL = "reasoning-gym tasks need the reasoning-gym package: pip install 's1[rg]'"


def registry() -> dict:
    """reasoning-gym's datasets: name -> (dataset class, config class). ImportError when it is missing."""
    from reasoning_gym.factory import DATASETS

    return DATASETS


def field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def make_dataset(name: str, config: dict):
    """The dataset `name` built from JSON settings (lists go back to tuples where the field holds a tuple).
    Raises KeyError for an unknown name and what the config's own checks raise for bad settings."""
    ds_cls, cfg_cls = registry()[name]
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    kw = {}
    for key, value in config.items():
        if key in fields and isinstance(value, list) and isinstance(field_default(fields[key]), tuple):
            value = tuple(value)
        kw[key] = value
    cfg = cfg_cls(**kw)
    if callable(getattr(cfg, "validate", None)):
        cfg.validate()
    return ds_cls(config=cfg)


class Scorer:
    """score_answer of each (dataset, settings) seen, built once: some datasets load word lists."""

    def __init__(self):
        self.datasets: dict[str, object] = {}

    @staticmethod
    def key(verifier: dict) -> str:
        return json.dumps([verifier["dataset"], verifier.get("config") or {}], sort_keys=True)

    def ready(self, verifier: dict) -> bool:
        return self.key(verifier) in self.datasets

    def prepare(self, verifier: dict):
        """The verifier's dataset, built on first use (ImportError without reasoning-gym)."""
        key = self.key(verifier)
        if key not in self.datasets:
            self.datasets[key] = make_dataset(verifier["dataset"], verifier.get("config") or {})
        return self.datasets[key]

    def score(self, answer: str | None, verifier: dict) -> float:
        return float(self.prepare(verifier).score_answer(answer, verifier["entry"]))


SCORER = Scorer()


def parse_verifier(text: str) -> dict:
    """The JSON a grader sends for kind "rg"; ValueError when it is not a verifier."""
    v = json.loads(text)
    if not isinstance(v, dict) or not isinstance(v.get("dataset"), str) or not isinstance(v.get("entry"), dict):
        raise ValueError("a reasoning-gym verifier is {dataset, config, entry}")
    return v


def score(answer: str | None, verifier: dict) -> float:
    """The dataset's own score for `answer` (1.0: correct; some verifiers give partial credit)."""
    return SCORER.score(answer, verifier)
