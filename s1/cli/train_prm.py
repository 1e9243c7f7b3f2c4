"""`s1 train --objective prm`: the reward-model objective's flags and run (labels by rollouts, then a shepherd PRM).

    s1 train --objective prm --task arith:n=40,steps=2,digits=1 --out prm/ --samples 2 --rollouts 2
"""

from __future__ import annotations

from .common import InputError

# flags of the SFT objective only, and of the PRM objective only (each refused under the other)
SFT_ONLY = ("split", "trace", "thinking_column", "answer_column", "system", "packing", "lora",
            "gradient_checkpointing", "save_steps", "force", "limit", "length_instruction")
PRM_ONLY = ("task", "policy", "samples", "rollouts", "temperature", "rollout_thinking", "rollout_answer",
            "max_forks", "label_batch", "holdout", "tag", "good", "bad", "device")
DEFAULTS = {"sft": {"epochs": 5.0, "lr": 1e-5, "global_batch": 16, "max_length": 32768, "template": "s1"},
            "prm": {"epochs": 2.0, "lr": 2e-5, "global_batch": 8, "max_length": 2048, "template": "auto"}}


def add_args(t) -> None:
    r = t.add_argument_group(
        "reward model (--objective prm): step labels by rollouts from the policy (Math-Shepherd), then a PRM "
        "that `--reward shepherd:OUT` loads")
    r.add_argument("--task", help="training questions: a task with exact answers, e.g. arith:n=200,steps=3")
    r.add_argument("--policy", help="the model whose solutions are labelled (default: --model)")
    r.add_argument("--samples", type=int, default=4, help="solutions sampled per question (default 4)")
    r.add_argument("--rollouts", type=int, default=4, help="completions rolled out from each step's end (default 4)")
    r.add_argument("--temperature", type=float, default=0.8, help="sampling temperature of solutions and rollouts")
    r.add_argument("--rollout-thinking", type=int, default=256, metavar="N",
                   help="thinking budget of a solution and its rollouts, tokens (default 256)")
    r.add_argument("--rollout-answer", type=int, default=32, metavar="N", help="answer tokens (default 32)")
    r.add_argument("--max-forks", type=int, default=12, help="steps rolled out per solution (default 12)")
    r.add_argument("--label-batch", type=int, default=4,
                   help="questions decoded together (default 4); each holds up to samples x (1 + max-forks x "
                        "rollouts) rows of KV cache")
    r.add_argument("--holdout", type=float, default=0.2,
                   help="share of questions held out to measure step-label accuracy (default 0.2)")
    r.add_argument("--tag", default="ки", help="step tag (default ки, as Math-Shepherd)")
    r.add_argument("--good", default="+", help="token for a good step (default +)")
    r.add_argument("--bad", default="-", help="token for a bad step (default -)")
    r.add_argument("--device", default=None, help="auto (cuda when present), cpu, cuda:1 ...")


def check_flags(args, parser_defaults: dict) -> None:
    """A flag of the other objective, given on the command line, is an error (it would be ignored)."""
    other = SFT_ONLY if args.objective == "prm" else PRM_ONLY
    stray = [k for k in other if getattr(args, k, None) != parser_defaults.get(k)]
    if stray:
        flags = ", ".join("--" + k.replace("_", "-") for k in stray)
        raise InputError(f"{flags}: not an option of --objective {args.objective}")


def value(args, name: str):
    v = getattr(args, name)
    return DEFAULTS[args.objective][name] if v is None else v


def run(args) -> int:
    from ..rewards import RewardError
    from ..rewards.labels import LabelConfig, LabelError
    from ..rewards.train import PRMConfig, train_prm

    labels = LabelConfig(samples=args.samples, rollouts=args.rollouts, temperature=args.temperature,
                         seed=args.seed, max_thinking_tokens=args.rollout_thinking,
                         max_answer_tokens=args.rollout_answer, max_forks=args.max_forks, batch_size=args.label_batch)
    cfg = PRMConfig(task=args.task or "", data=args.data, out=args.out or "", model=args.model, policy=args.policy,
                    template=value(args, "template"), labels=labels, holdout=args.holdout, tag=args.tag,
                    good=args.good, bad=args.bad, epochs=value(args, "epochs"), learning_rate=value(args, "lr"),
                    warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                    global_batch=value(args, "global_batch"), micro_batch=args.micro_batch,
                    max_length=value(args, "max_length"), max_steps=args.max_steps,
                    dtype=args.dtype, device=args.device, seed=args.seed)
    from .common import quiet_transformers

    quiet_transformers()  # our progress lines, not transformers' bars for every save and load
    try:
        s = train_prm(cfg, resume=args.resume, overwrite=args.overwrite)
    except (LabelError, RewardError) as e:
        raise InputError(str(e)) from None
    lab = {**s["labels"], **s["labels_total"]}
    acc = "n/a" if s["accuracy"] is None else f"{s['accuracy']:.2f}"
    base = "n/a" if s["majority_rate"] is None else f"{s['majority_rate']:.2f}"
    print(f"labelled {lab['solutions']} solutions ({lab['good']} good / {lab['bad']} bad steps, "
          f"{lab['rollouts']} rollouts); trained {s['steps']} steps; held-out step accuracy {acc} "
          f"(training majority class {base}, held-out majority {s['held_out_majority_rate']}); "
          f"PRM written to {cfg.out} (--reward shepherd:{cfg.out})")
    return 0
