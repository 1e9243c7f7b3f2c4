"""s1 demo: the tiny recipe end to end (curate -> train -> eval -> report) on a tiny random model, its
report folder, the stage-time record, resumption, and the runner's errors.

The pipeline runs the recipe's public commands in this process (`s1.cli.main`), so the test pays for
no interpreter start-up per stage; `s1 demo` runs the same commands as subprocesses (checked here on a
failing stage)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from s1.cli import main
from s1.demo import DemoError, load_recipe, run_recipe

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml"
STAGES = ["curate", "train-s1", "eval-base", "eval-s1", "train-random", "eval-random", "report"]



def in_process(command: str, logfile) -> int:
    args = shlex.split(command)
    assert args[0] == "s1"  # every stage of the recipe is a public s1 command
    return main(args[1:])


def run_tiny(out, model, log=None):
    recipe = load_recipe(RECIPE, out, tiny=True, overrides={"model": str(model)})
    return run_recipe(recipe, log=log or (lambda m: None), execute=in_process)


@pytest.fixture(scope="module")
def demo_run(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    run_tiny(out, tiny_dir)
    return out


def test_tiny_demo_writes_the_report_folder(demo_run):
    rep = demo_run / "report"
    for name in ("summary.md", "scaling.png", "train-loss.png", "curate-funnel.png", "curate-domains.png",
                 "stage_times.json"):
        assert (rep / name).is_file(), name
    text = (rep / "summary.md").read_text()
    for part in ("## What the numbers show", "## 1. Curation", "## 2. Fine-tuning", "## 3. Test-time scaling",
                 "## 4. Data ablation: s1 - random", "| base | budget-forcing |", "| s1 | class-conditional+forcing |",
                 "## Stage times", "Curation kept", "95% interval"):
        assert part in text, part
    # every public stage left its own output: the selection, both checkpoints, three eval runs
    assert (demo_run / "curate" / "s1k.parquet").is_file() and (demo_run / "curate" / "ablation-random.parquet").is_file()
    for m in ("s1", "random"):
        assert (demo_run / "models" / m / "s1_train.json").is_file()
    for e in ("base", "s1", "random"):
        s = json.loads((demo_run / "eval" / e / "summary.json").read_text())
        assert s["complete"] and s["n_questions"] == 4
    # the numbers in the summary are the runs' numbers
    s1 = json.loads((demo_run / "eval" / "s1" / "summary.json").read_text())["methods"]["budget-forcing"]
    perf = "–" if s1["performance"] is None else f"{s1['performance']:.1f}"
    assert f"| s1 | budget-forcing | {s1['control']:.1f} |" in text and f"| {perf} |" in text


def test_stage_times_are_recorded(demo_run):
    rec = json.loads((demo_run / "demo.json").read_text())
    assert list(rec["stages"]) == STAGES
    assert all(s["status"] == "done" and s["seconds"] > 0 for s in rec["stages"].values())
    assert rec["seconds"] == pytest.approx(sum(s["seconds"] for s in rec["stages"].values()), abs=0.5)
    times = json.loads((demo_run / "report" / "stage_times.json").read_text())
    assert set(times["stages"]) == set(STAGES) and times["tiny"] is True
    assert "| curate |" in (demo_run / "report" / "summary.md").read_text()


def test_second_run_skips_finished_stages_and_resumes_an_interrupted_one(demo_run, tiny_dir):
    rec_path = demo_run / "demo.json"
    before = json.loads(rec_path.read_text())
    lines = []
    run_tiny(demo_run, tiny_dir, lines.append)
    assert sum("done already" in x for x in lines) == len(STAGES)
    assert json.loads(rec_path.read_text())["stages"] == before["stages"]

    # as if killed during the last evaluation: it runs again (resuming its run folder), the stages before it
    # are skipped and the report after it is written again from the finished evaluation
    before["stages"]["eval-random"]["status"] = "running"
    rec_path.write_text(json.dumps(before))
    lines.clear()
    run_tiny(demo_run, tiny_dir, lines.append)
    assert sum("done already" in x for x in lines) == len(STAGES) - 2
    assert any(x.startswith("[6/7] eval-random") for x in lines) and any("resuming" in x for x in lines)
    assert any(x.startswith("[7/7] report") for x in lines)
    after = json.loads(rec_path.read_text())["stages"]["eval-random"]
    assert after["status"] == "done" and after["seconds"] > before["stages"]["eval-random"]["seconds"]


def numbers(run: Path) -> dict:
    """Every number the demo computes (the selection, the loss curves, the evaluations), without timings."""
    from s1.data.rowfiles import iter_rows

    out = {"selected": sorted(r["id"] for r in iter_rows(run / "curate" / "s1k.parquet"))}
    for m in ("s1", "random"):
        out[f"loss-{m}"] = json.loads((run / "models" / m / "s1_train.json").read_text())["losses"]
    for e in ("base", "s1", "random"):
        out[f"eval-{e}"] = json.loads((run / "eval" / e / "summary.json").read_text())["methods"]
    text = (run / "report" / "summary.md").read_text()
    out["summary"] = text[:text.index("## 2. Fine-tuning")] + text[text.index("## 3. Test-time"):text.index("## Stage times")]
    return out


def test_tiny_demo_is_deterministic(demo_run, tiny_dir, tmp_path):
    """A second run from scratch computes the same selection, loss curves, accuracies and summary text."""
    run_tiny(tmp_path / "again", tiny_dir)
    first, second = numbers(demo_run), numbers(tmp_path / "again")
    assert first["eval-s1"]["budget-forcing"]["points"]  # something was measured
    assert second == first


def test_recipe_errors_are_one_line(tmp_path, capsys, tiny_dir):
    assert main(["demo", "--out", str(tmp_path / "x"), "--set", "nosuch=1", "--dry-run"]) == 2
    assert "no variable 'nosuch'" in capsys.readouterr().err
    assert main(["demo", "--recipe", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x")]) == 2
    assert "recipe not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - name: a\n    run: s1 eval --out ${nowhere}\n")
    with pytest.raises(DemoError, match=r"unknown variable \$\{nowhere\}"):
        load_recipe(bad, tmp_path / "x")
    bad.write_text("stages:\n  - name: a\n    run: s1 no-such-command\n")
    assert main(["demo", "--recipe", str(bad), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "stage a failed (exit 2)" in err and "run the same command again" in err
    assert json.loads((tmp_path / "y" / "demo.json").read_text())["stages"]["a"]["status"] == "failed"


def test_dry_run_prints_public_commands(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path / "d"), "--dry-run"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x and not x.startswith("#")]
    assert len(lines) == len(STAGES) and all(x.startswith("s1 ") for x in lines)
    assert not (tmp_path / "d").exists()


def test_full_size_recipe_expands():
    r = load_recipe(RECIPE.parent / "s1-32b.yaml", "runs/s1-32b")
    text = " ".join(s.command for s in r.stages)
    assert "Qwen/Qwen2.5-32B-Instruct" in text and "simplescaling/s1K-1.1" in text and "--backend vllm" in text
    assert "configs/fsdp_2x8gpu.yaml" in text
