"""Supervised fine-tuning on reasoning traces (`s1 train`): TRL's SFTTrainer with the s1 template.

    from s1.train import TrainConfig, train; train(TrainConfig(model=None, data="s1k.parquet", out="ckpt"))

Each example becomes prompt (system + question, ending with the think delimiter) + completion
(thinking, end-of-thinking delimiter, "Answer: " + attempt, end of turn). Prompt and completion are
tokenized apart, exactly as at inference (the engine renders the prompt and generates the rest), and
only completion tokens carry loss. One code path from 1 CPU to N GPUs: run it plainly, or under
`accelerate launch` with a config of configs/ (FSDP). The output folder is a Hugging Face model
folder plus `s1_template.json` and `s1_train.json`, so `s1 generate --model OUT` just works.
`--resume` continues from the newest *complete* checkpoint: one cut short by a kill (no readable
trainer_state.json, which the Trainer writes last) is removed first.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .baselines import LENGTH_INSTRUCTION, with_instruction
from .files import write_text_atomic
from .memory import available_memory, memory_estimate
from .progress import trainer_progress

TRAIN_FILE = "s1_train.json"
RUN_FILE = "run_config.json"

# (thinking column, answer column) of the published layouts, tried in this order by --trace auto
TRACES = {
    "deepseek": ("deepseek_thinking_trajectory", "deepseek_attempt"),  # s1K-1.1
    "gemini": ("gemini_thinking_trajectory", "gemini_attempt"),  # s1K-1.1
    "s1k": ("thinking_trajectories", "attempt"),  # s1K (1.0): a list with one trajectory
    "plain": ("thinking", "answer"),
}


class TrainError(Exception):
    """A problem the user can fix: missing columns, empty data, an occupied output folder, no memory."""


@dataclass
class TrainConfig:
    """Every setting of a run (saved as s1_train.json next to the checkpoint). Defaults: the paper's."""

    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    data: str = ""  # local .jsonl/.json/.parquet file or folder, or a Hub dataset id
    out: str = ""
    split: str = "train"
    trace: str = "auto"  # auto, deepseek, gemini, s1k, plain
    question_column: str = "question"
    thinking_column: str | None = None  # override the trace's columns
    answer_column: str | None = None
    answer_prefix: str = "Answer: "
    template: str = "s1"
    system: str | None = None  # None: the model's default system prompt (Qwen's for Qwen models)
    max_length: int = 32768
    overflow: str = "truncate"  # truncate | drop (examples longer than max_length; always counted)
    limit: int | None = None
    epochs: float = 5.0
    learning_rate: float = 1e-5
    warmup_ratio: float = 0.05
    weight_decay: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    global_batch: int = 16
    micro_batch: int = 1
    dtype: str = "auto"  # auto: bf16 where supported, else fp32
    gradient_checkpointing: bool = False
    packing: bool = False  # padding-free packing: only with flash attention (no cross-contamination)
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    save_steps: int = 0  # 0: a checkpoint per epoch; -1: none until the end
    save_total_limit: int = 2
    max_steps: int = -1  # stop after this many optimizer steps (-1: all epochs)
    logging_steps: int = 1
    seed: int = 0
    # > 0: the question ends with "Think for N tokens." (N: the trace's thinking tokens, rounded to a
    # multiple of this), so the model learns to follow a requested length (s1 eval --method length-conditional)
    length_instruction: int = 0

    def validate(self) -> "TrainConfig":
        if not self.data:
            raise TrainError("no training data: give --data FILE or a Hub dataset id")
        if not self.out:
            raise TrainError("no output folder: give --out DIR")
        if self.trace not in ("auto", *TRACES):
            raise TrainError(f"unknown trace {self.trace!r}; choose auto, {', '.join(TRACES)}")
        if self.overflow not in ("truncate", "drop"):
            raise TrainError(f"--overflow must be truncate or drop, got {self.overflow!r}")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise TrainError("epochs and learning rate must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise TrainError(f"warmup ratio must be in [0, 1), got {self.warmup_ratio}")
        # everything before anything loads or is written (peft and the Trainer fail late, some with a traceback)
        if self.max_steps == 0 or self.max_steps < -1:
            raise TrainError(f"max steps must be >= 1 (or -1: all epochs), got {self.max_steps}")
        if self.limit is not None and self.limit < 1:
            raise TrainError(f"limit must be >= 1, got {self.limit}")
        if self.save_steps < -1:
            raise TrainError(f"save steps must be >= 1, 0 (every epoch) or -1 (none), got {self.save_steps}")
        for name in ("max_length", "global_batch", "micro_batch", "save_total_limit", "logging_steps", "lora_r",
                     "lora_alpha"):
            if getattr(self, name) < 1:
                raise TrainError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if self.length_instruction < 0:
            raise TrainError(f"length instruction rounding must be >= 0 tokens, got {self.length_instruction}")
        if not 0 <= self.lora_dropout < 1:
            raise TrainError(f"lora dropout must be in [0, 1), got {self.lora_dropout}")
        if self.weight_decay < 0 or not (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1):
            raise TrainError("weight decay must be >= 0 and the Adam betas in [0, 1)")
        return self


# -- data ---------------------------------------------------------------------------------------

def load_rows(spec: str, split: str = "train", limit: int | None = None) -> list[dict]:
    """Rows of a local file (.jsonl/.json/.parquet/.csv) or folder, or of a Hub dataset."""
    import datasets

    path = Path(spec)
    # an empty or blank file: datasets would fail with a bare StopIteration
    if path.is_file() and path.stat().st_size < 1 << 20 and not path.read_bytes().strip():
        raise TrainError(f"{spec}: no rows")
    try:
        if path.is_file():
            kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(path.suffix)
            if kind is None:
                raise TrainError(f"unsupported data file {spec}: use .jsonl, .json, .parquet or .csv")
            ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), split=split)
        elif spec.count("/") == 1 and not spec.startswith((".", "/")):
            ds = datasets.load_dataset(spec, split=split)
        else:
            raise TrainError(f"data not found: {spec}")
    except TrainError:
        raise
    except Exception as e:  # datasets raises many types; the user needs the one line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainError(f"cannot read {spec}: {msg}") from None
    rows = ds.to_list() if limit is None else ds.select(range(min(limit, len(ds)))).to_list()
    if not rows:
        raise TrainError(f"{spec}: no rows")
    return rows


def trace_columns(cfg: TrainConfig, columns: list[str]) -> tuple[str, str]:
    if cfg.thinking_column or cfg.answer_column:
        pair = (cfg.thinking_column or TRACES["plain"][0], cfg.answer_column or TRACES["plain"][1])
    elif cfg.trace == "auto":
        pair = next((p for p in TRACES.values() if set(p) <= set(columns)), None)
        if pair is None:
            raise TrainError(
                "cannot tell which columns hold the thinking and the answer; columns are: "
                f"{', '.join(columns)} (use --trace or --thinking-column/--answer-column)"
            )
    else:
        pair = TRACES[cfg.trace]
    missing = [c for c in (cfg.question_column, *pair) if c not in columns]
    if missing:
        raise TrainError(f"missing column(s) {', '.join(missing)}; columns are: {', '.join(columns)}")
    return pair


def _text(v) -> str:
    if isinstance(v, list):  # s1K 1.0 keeps trajectories in a list
        v = v[0] if v else ""
    return "" if v is None else str(v)


def length_instruction(tokenizer, thinking: str, rounding: int) -> str:
    """"Think for N tokens.": N is the thinking's real length in tokens, rounded to a multiple of `rounding`."""
    n = len(tokenizer.encode(thinking, add_special_tokens=False))
    return LENGTH_INSTRUCTION.format(n=round(n / rounding) * rounding)


def build_examples(rows: list[dict], tokenizer, template, cfg: TrainConfig) -> tuple[list[dict], dict]:
    """Tokenized examples (input_ids, labels with -100 on the prompt) and counts of what happened."""
    think_col, ans_col = trace_columns(cfg, list(rows[0]))
    eot = template.end_of_turn or tokenizer.eos_token or ""
    examples, stats = [], {"rows": len(rows), "empty": 0, "too_long": 0, "truncated": 0, "dropped": 0,
                           "tokens": 0, "loss_tokens": 0}
    for row in rows:
        question, thinking, attempt = _text(row.get(cfg.question_column)), _text(row.get(think_col)), \
            _text(row.get(ans_col))
        if not question.strip() or not attempt.strip():
            stats["empty"] += 1
            continue
        if cfg.length_instruction:
            question = with_instruction(question, length_instruction(tokenizer, thinking, cfg.length_instruction))
        sep = "" if not thinking or thinking.endswith(template.separator) else template.separator
        completion = f"{thinking}{sep}{template.think_end}{cfg.answer_prefix}{attempt.strip()}{eot}"
        p_ids = template.encode_prompt(tokenizer, question, cfg.system)  # the question as text, as at inference
        c_ids = tokenizer.encode(completion, add_special_tokens=False)
        ids, labels = p_ids + c_ids, [-100] * len(p_ids) + c_ids
        if len(ids) > cfg.max_length:
            stats["too_long"] += 1
            if cfg.overflow == "drop":
                stats["dropped"] += 1
                continue
            stats["truncated"] += 1
            ids, labels = ids[: cfg.max_length], labels[: cfg.max_length]
        if all(t == -100 for t in labels):
            stats["dropped"] += 1  # the prompt alone fills max_length: nothing to learn from
            continue
        examples.append({"input_ids": ids, "labels": labels})
        stats["tokens"] += len(ids)
        stats["loss_tokens"] += sum(t != -100 for t in labels)
    if not examples:
        raise TrainError(f"no usable example in {cfg.data} ({stats['empty']} empty, {stats['dropped']} dropped)")
    return examples, stats


# -- the run ------------------------------------------------------------------------------------

def _check_out(out: Path, cfg: TrainConfig, resume: bool, overwrite: bool) -> bool:
    """True when an earlier run in `out` should be resumed."""
    if not out.exists() or not any(out.iterdir()):
        return False
    saved = out / RUN_FILE
    if overwrite:
        shutil.rmtree(out)
        return False
    if not saved.exists():
        raise TrainError(f"{out} is not empty and holds no s1 training run; use another --out or --overwrite")
    try:
        old = json.loads(saved.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:  # torn by a kill in an older version, which wrote it in place
        raise TrainError(f"{saved}: unreadable ({' '.join(str(e).split())}); use --overwrite to start over") from None
    if not resume:
        raise TrainError(f"{out} already holds a training run; use --resume to continue it or --overwrite")
    mine = _identity(cfg)
    diff = [k for k in mine if k not in ("max_steps",) and old.get(k) != mine[k]]
    if diff:
        raise TrainError(f"{out} holds a run with other settings ({', '.join(diff)}); --overwrite to start over")
    return True  # resume: from the last complete checkpoint, or from the start if none is complete


def _checkpoint_step(path: Path) -> int:
    tail = path.name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint-N folder in `out`, or None. The Trainer writes
    trainer_state.json after the weights, optimizer, scheduler and RNG states: a checkpoint whose
    trainer_state.json is missing or unreadable was cut short."""
    for ckpt in sorted(out.glob("checkpoint-*"), key=_checkpoint_step, reverse=True):
        try:
            state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and "global_step" in state:
            return ckpt
    return None


def drop_partial_checkpoints(out: Path) -> Path | None:
    """Remove the checkpoints newer than the last complete one (a kill mid-save); return that one."""
    last = last_checkpoint(out)
    floor = _checkpoint_step(last) if last else -1
    for ckpt in out.glob("checkpoint-*"):
        if _checkpoint_step(ckpt) > floor:
            shutil.rmtree(ckpt)
    return last


def _identity(cfg: TrainConfig) -> dict:
    d = json.loads(json.dumps(asdict(cfg)))
    if not d.get("length_instruction"):
        d.pop("length_instruction", None)  # runs made before the option existed still resume
    return d


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False,
          force: bool = False, callbacks: list | None = None, progress: bool = True) -> dict:
    """Fine-tune; returns a summary (steps, losses, data counts, output folder)."""
    import torch
    from accelerate import PartialState
    from trl import SFTConfig, SFTTrainer

    from .models import load_model, model_path, resolve_dtype
    from .templates import get_template

    cfg.validate()
    out = Path(cfg.out)
    # cpu=True lets CPU-only processes under torchrun / accelerate join one gloo group (data parallel)
    state = PartialState(cpu=not torch.cuda.is_available())
    do_resume = _check_out(out, cfg, resume, overwrite)
    model_path(cfg.model)  # a missing model folder fails before the data is read
    rows = load_rows(cfg.data, cfg.split, cfg.limit)
    # fp32 master weights; bf16 runs as autocast (mixed precision), as the Trainer and FSDP expect.
    # Loaded on the CPU: the Trainer / accelerate place it (and shard it under FSDP).
    lm = load_model(cfg.model, dtype="float32", device="cpu")
    model, tok = lm.model, lm.tokenizer
    template = get_template(cfg.template, tok, lm.path)
    examples, counts = build_examples(rows, tok, template, cfg)
    if counts["too_long"] and state.is_main_process:
        how = "truncated" if cfg.overflow == "truncate" else "dropped"
        print(f"s1 train: {counts['too_long']} of {counts['rows']} examples are longer than {cfg.max_length} "
              f"tokens and were {how}", flush=True)

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    want = resolve_dtype(None if cfg.dtype == "auto" else cfg.dtype, dev)
    bf16 = want == torch.bfloat16
    fp16 = want == torch.float16
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    n_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    longest = max(len(e["input_ids"]) for e in examples)
    mc = model.config
    need = memory_estimate(n_params, trainable, 4, longest * cfg.micro_batch, getattr(mc, "hidden_size", 1024),
                           getattr(mc, "num_hidden_layers", 24), cfg.gradient_checkpointing)
    have = available_memory(dev)
    if state.is_main_process:
        print(f"s1 train: {len(examples)} examples, {counts['tokens']:,} tokens ({counts['loss_tokens']:,} with loss), "
              f"{trainable:,} of {n_params:,} parameters trained; memory estimate {need / 2**30:.1f} GiB"
              + (f" of {have / 2**30:.1f} GiB available" if have else ""), flush=True)
    if have and need > have and not force:
        raise TrainError(f"estimated {need / 2**30:.1f} GiB needed, {have / 2**30:.1f} GiB available: lower "
                         "--max-length, use --gradient-checkpointing or --lora (or --force to try anyway)")

    world = state.num_processes
    if cfg.global_batch % (cfg.micro_batch * world):
        raise TrainError(f"global batch {cfg.global_batch} is not a multiple of micro batch {cfg.micro_batch} "
                         f"x {world} processes")
    accum = cfg.global_batch // (cfg.micro_batch * world)
    attn = getattr(mc, "_attn_implementation", "sdpa")
    packing = cfg.packing and attn.startswith("flash")
    if cfg.packing and not packing and state.is_main_process:
        # without varlen kernels, packed examples would attend to each other (measured: see tests)
        print(f"s1 train: packing needs flash attention (this model uses {attn}); batching by length instead",
              flush=True)

    import datasets

    train_ds = datasets.Dataset.from_list(examples)
    out.mkdir(parents=True, exist_ok=True)
    if state.is_main_process:
        write_text_atomic(out / RUN_FILE, json.dumps(_identity(cfg), indent=2) + "\n")
    known = {f.name for f in fields(SFTConfig)}
    compat = {}  # transformers 5 folded warmup_ratio into warmup_steps and group_by_length into a strategy
    if "warmup_ratio" in known:
        compat["warmup_ratio"] = cfg.warmup_ratio
    else:
        compat["warmup_steps"] = cfg.warmup_ratio
    if "activation_checkpointing" in known:  # the newer name of gradient_checkpointing
        compat["activation_checkpointing"] = cfg.gradient_checkpointing
    else:
        compat["gradient_checkpointing"] = cfg.gradient_checkpointing
    grouped = cfg.micro_batch > 1 and not packing
    if "train_sampling_strategy" in known:
        compat["train_sampling_strategy"] = "group_by_length" if grouped else "random"
    else:
        compat["group_by_length"] = grouped
    args = SFTConfig(
        output_dir=str(out), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, **compat,
        learning_rate=cfg.learning_rate, lr_scheduler_type="cosine",
        weight_decay=cfg.weight_decay, adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2,
        per_device_train_batch_size=cfg.micro_batch, gradient_accumulation_steps=accum,
        bf16=bf16, fp16=fp16,
        max_length=None, packing=packing, padding_free=packing,
        save_strategy="no" if cfg.save_steps < 0 else "steps" if cfg.save_steps else "epoch",
        save_steps=max(cfg.save_steps, 1) if cfg.save_steps > 0 else 500,
        save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps, seed=cfg.seed, data_seed=cfg.seed,
        report_to="none", disable_tqdm=True, dataset_num_proc=None, use_cpu=dev == "cpu",
    )
    shown = [trainer_progress()] if progress else []  # our progress, not tqdm's
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, processing_class=tok,
                         callbacks=[*(callbacks or []), *shown])
    start = None
    if do_resume and state.is_main_process:
        start = drop_partial_checkpoints(out)  # a kill mid-save left a checkpoint without its state
    state.wait_for_everyone()
    if do_resume and not state.is_main_process:
        start = last_checkpoint(out)
    try:
        result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    finally:
        for bar in shown:
            bar.close()  # a run that fails stops its progress lines too
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    if cfg.lora:
        if state.is_main_process:  # merged: a plain model folder that every tool loads
            trainer.model.merge_and_unload().save_pretrained(out, safe_serialization=True)
    else:
        trainer.save_model(str(out))  # on every process: under FSDP it gathers the shards first
    if state.is_main_process:
        tok.save_pretrained(out)
        template.save(out)
        summary = {"config": _identity(cfg), "data": counts, "steps": trainer.state.global_step,
                   "losses": losses, "train_runtime": result.metrics.get("train_runtime"),
                   "gradient_accumulation": accum, "processes": world, "packing": packing,
                   "epochs_done": trainer.state.epoch, "tokens_per_second": _tps(counts, trainer, result)}
        write_text_atomic(out / TRAIN_FILE, json.dumps(summary, indent=2) + "\n")  # written last: the run is done
        return summary
    return {}


def _tps(counts, trainer, result) -> float | None:
    rt = result.metrics.get("train_runtime")
    if not rt or not trainer.state.epoch:
        return None
    return round(counts["tokens"] * trainer.state.epoch / rt, 1)


__all__ = ["TRACES", "TrainConfig", "TrainError", "build_examples", "last_checkpoint", "load_rows",
           "train"]
