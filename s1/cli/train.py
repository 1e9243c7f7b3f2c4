"""`s1 train`: supervised fine-tuning on reasoning traces (s1K format), or a process reward model (--objective prm).

    s1 train --data s1k.parquet --out ckpt/ --max-length 1024 --epochs 3
    s1 train --objective prm --task arith:n=40,steps=2,digits=1 --out prm/
"""

from __future__ import annotations

import argparse

from . import train_prm
from .common import quiet_transformers

EPILOG = """examples:
  s1 train --data s1k.parquet --out ckpt/ --max-length 1024 --epochs 3          # embedded model, CPU
  s1 train --model Qwen/Qwen2.5-7B-Instruct --data simplescaling/s1K-1.1 --trace deepseek --out ckpt/
  s1 train --model M --data s1k.jsonl --lora --max-length 4096 --out ckpt-lora/
  accelerate launch --config_file configs/fsdp_8gpu.yaml -m s1 train --model M --data D --out ckpt/
  s1 generate --model ckpt/ "How many r in raspberry?" --max-thinking 256
  s1 train --objective prm --task arith:n=40,steps=2,digits=1 --out prm/ --samples 2 --rollouts 2   # a PRM
"""


def add_parser(sub) -> None:
    t = sub.add_parser(
        "train", help="fine-tune a model on reasoning traces (s1K format) with the s1 template",
        description="Supervised fine-tuning with TRL's SFTTrainer: loss on the thinking and answer only, the "
                    "paper's hyperparameters by default. Multi-GPU: accelerate launch --config_file "
                    "configs/fsdp_8gpu.yaml -m s1 train ...  With --objective prm: a process reward model "
                    "trained on step labels made by rollouts from a policy (see the reward model group).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--objective", default="sft", choices=["sft", "prm"],
                   help="sft: fine-tune on traces (default); prm: train a process reward model from rollouts")
    t.add_argument("--model", default=None, help="embedded default smollm2-135m, a local folder or a Hub id")
    t.add_argument("--data", required=False, help="s1K-format .jsonl/.json/.parquet/.csv, a folder or a Hub dataset id "
                   "(prm: the question file of --task file:kind=integer)")
    t.add_argument("--out", required=False, help="output folder (a Hugging Face model folder when done)")
    t.add_argument("--split", default="train")
    t.add_argument("--trace", default="auto", help="which trace: auto (default), deepseek, gemini (s1K-1.1), s1k, plain")
    t.add_argument("--question-column", default="question")
    t.add_argument("--thinking-column", help="thinking column (overrides --trace)")
    t.add_argument("--answer-column", help="answer column (overrides --trace)")
    t.add_argument("--answer-prefix", default="Answer: ", help="text before the answer (default 'Answer: ')")
    t.add_argument("--template", default=None, help="thinking template (default s1; prm: the policy's, auto)")
    t.add_argument("--system", help="system prompt (default: the model's own)")
    t.add_argument("--max-length", type=int, default=None, help="tokens per example (default 32768; prm 2048)")
    t.add_argument("--overflow", default="truncate", choices=["truncate", "drop"],
                   help="what to do with longer examples (counted and reported either way)")
    t.add_argument("--limit", type=int, help="only the first N examples")
    t.add_argument("--length-instruction", type=int, nargs="?", const=16, default=0, metavar="ROUND",
                   help="end each question with 'Think for N tokens.' (N = the trace's thinking tokens rounded to "
                        "a multiple of ROUND, default 16), to train length control; measure it with "
                        "s1 eval --method length-conditional,length-conditional+forcing")
    h = t.add_argument_group("optimisation (defaults: the paper's)")
    h.add_argument("--epochs", type=float, default=None, help="default 5 (prm: 2)")
    h.add_argument("--lr", type=float, default=None, help="peak learning rate, cosine decay to 0 (default 1e-5; prm 2e-5)")
    h.add_argument("--warmup-ratio", type=float, default=0.05)
    h.add_argument("--weight-decay", type=float, default=1e-4)
    h.add_argument("--adam-beta1", type=float, default=0.9)
    h.add_argument("--adam-beta2", type=float, default=0.95)
    h.add_argument("--global-batch", type=int, default=None,
                   help="micro batch x accumulation x processes (default 16; prm 8)")
    h.add_argument("--micro-batch", type=int, default=1)
    h.add_argument("--dtype", default="auto", help="auto (bf16 mixed precision where supported), float32, bfloat16")
    h.add_argument("--gradient-checkpointing", action="store_true")
    h.add_argument("--packing", action="store_true", help="padding-free packing (flash attention only)")
    h.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps")
    h.add_argument("--seed", type=int, default=0)
    lo = t.add_argument_group("LoRA")
    lo.add_argument("--lora", action="store_true", help="train LoRA adapters, merged into the model on save")
    lo.add_argument("--lora-r", type=int, default=16)
    lo.add_argument("--lora-alpha", type=int, default=32)
    ck = t.add_argument_group("checkpoints")
    ck.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (default 0: every epoch; -1: none)")
    ck.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    ck.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    ck.add_argument("--force", action="store_true", help="start even if the memory estimate says it will not fit")
    train_prm.add_args(t)
    t.set_defaults(func=run, flag_defaults={k: t.get_default(k) for k in train_prm.SFT_ONLY + train_prm.PRM_ONLY})


def run(args) -> int:
    from ..train import TrainConfig, train

    train_prm.check_flags(args, args.flag_defaults)
    if args.objective == "prm":
        return train_prm.run(args)
    cfg = TrainConfig(
        model=args.model, data=args.data or "", out=args.out or "", split=args.split, trace=args.trace,
        question_column=args.question_column, thinking_column=args.thinking_column,
        answer_column=args.answer_column, answer_prefix=args.answer_prefix, template=train_prm.value(args, "template"),
        system=args.system, max_length=train_prm.value(args, "max_length"), overflow=args.overflow, limit=args.limit,
        epochs=train_prm.value(args, "epochs"), learning_rate=train_prm.value(args, "lr"),
        warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2, global_batch=train_prm.value(args, "global_batch"),
        micro_batch=args.micro_batch, dtype=args.dtype, gradient_checkpointing=args.gradient_checkpointing,
        packing=args.packing, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        save_steps=args.save_steps, max_steps=args.max_steps, seed=args.seed,
        length_instruction=args.length_instruction,
    )
    from ..backends.build import check_template_spec

    check_template_spec(cfg.template)
    quiet_transformers(progress_bars=True)  # the download bars of a large model are worth seeing
    s = train(cfg, resume=args.resume, overwrite=args.overwrite, force=args.force,
              progress=True)
    if s:
        first, last = (s["losses"][0], s["losses"][-1]) if s["losses"] else (None, None)
        print(f"trained {s['steps']} steps; loss {first} -> {last}; {s['tokens_per_second']} tokens/s; "
              f"model written to {cfg.out}")
    return 0
