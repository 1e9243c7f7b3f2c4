"""Training a PRM here: `s1 train --objective prm` on the embedded model, the README's small CPU settings.
Run: python benchmarks/bench_prm.py [--out DIR] [--reuse]

Times the two parts (labels by rollouts, fine-tuning), counts the labels, and reports the PRM's
step-label accuracy on held-out questions next to the majority-class rate, plus what forking the
rollouts saves (prompt tokens run vs re-running prompt + step prefix for every rollout).
--reuse summarises a finished run in --out instead of training again. Writes results/prm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ARGS = ["--task", "arith:n=8,steps=1,digits=1", "--samples", "4", "--rollouts", "2", "--rollout-thinking", "48",
        "--rollout-answer", "16", "--max-forks", "2", "--label-batch", "8", "--epochs", "1", "--global-batch", "8",
        "--micro-batch", "4", "--holdout", "0.25", "--device", "cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="run folder (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="summarise the finished run in --out")
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="bench-prm-")) / ("" if a.reuse else "prm")
    wall = None
    if not a.reuse:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "s1", "train", "--objective", "prm", "--out", str(out), *ARGS],
                       check=True)
        wall = round(time.monotonic() - t0, 1)
    s = json.loads((out / "prm_train.json").read_text())
    lab = {**s["labels"], **s.get("labels_total", {})}
    result = {
        "command": "s1 train --objective prm --out prm/ " + " ".join(ARGS), "wall_seconds": wall,
        "label_seconds": s["label_seconds"], "train_seconds": s["train_seconds"], "labels": lab,
        "train_examples": s["train_examples"], "optimizer_steps": s["steps"], "losses": s["losses"],
        "held_out_steps": s["held_out_steps"], "accuracy": s["accuracy"], "majority_class": s["majority_class"],
        "majority_rate": s["majority_rate"], "held_out_majority_rate": s.get("held_out_majority_rate"),
        "prefill_over_rerun": (round(lab["prefill_tokens"] / lab["rerun_prefix_tokens"], 3)
                               if lab.get("rerun_prefix_tokens") else None),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prm.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"labels {s['label_seconds']} s ({lab['solutions']} solutions, {lab['rollouts']} rollouts, "
          f"{lab['good']} good / {lab['bad']} bad steps), training {s['train_seconds']} s ({s['steps']} steps); "
          f"held-out step accuracy {s['accuracy']} vs majority class {s['majority_rate']}")


if __name__ == "__main__":
    main()
