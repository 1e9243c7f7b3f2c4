"""Training a process reward model here (`s1 train --objective prm`): Math-Shepherd labels, then a shepherd-layout PRM.

    from s1.rewards.train import PRMConfig, train_prm
    train_prm(PRMConfig(task="arith:n=40,steps=2,digits=1", out="prm"))

1. Labels (s1.rewards.labels): the policy samples solutions to the task's questions and rolls out
   from every step; OUT/labels.jsonl grows one question at a time and a rerun with --resume continues it.
2. Fine-tuning: a causal LM (the policy by default) reads "question step1 TAG\\nstep2 TAG..." and learns
   to put the good or bad token after each tag: cross-entropy over those two tokens at the tag positions
   only. The step tag becomes a token of the tokenizer if it is not one yet.
3. OUT is then a shepherd-layout checkpoint (safetensors, config, tokenizer, s1_prm.json with tag / good /
   bad) that `--reward shepherd:OUT` loads. A held-out share of the questions measures step-label accuracy
   against always answering the majority class (prm_train.json, written last: the run is done).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .labels import LabelConfig, LabelError, check_fits, done_ids, make_labels, read_labels
from .prm import PRM_FILE, shepherd_input

LABELS_FILE = "labels.jsonl"
RUN_FILE = "prm_run.json"  # the settings the labels were made with (a resumed run must match)
DONE_FILE = "prm_train.json"  # summary, written last


@dataclass
class PRMConfig:
    task: str = ""  # training questions: a built-in task with exact answers, e.g. arith:n=200,steps=3
    data: str | None = None  # the question file of task `file` (file:kind=integer)
    out: str = ""
    model: str | None = None  # the causal LM fine-tuned into the PRM (default: the embedded model)
    policy: str | None = None  # the model whose solutions are labelled (default: --model)
    template: str = "auto"  # the policy's thinking template
    labels: LabelConfig = field(default_factory=LabelConfig)
    holdout: float = 0.2  # share of the questions kept out of training to measure label accuracy
    tag: str = "ки"
    good: str = "+"
    bad: str = "-"
    epochs: float = 2.0
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    global_batch: int = 8
    micro_batch: int = 1
    max_length: int = 2048
    max_steps: int = -1
    dtype: str = "auto"
    device: str | None = None
    seed: int = 0

    def validate(self) -> "PRMConfig":
        if not self.task:
            raise LabelError("--objective prm needs --task (a built-in task with exact answers, e.g. arith:n=200)")
        if not self.out:
            raise LabelError("no output folder: give --out DIR")
        if not 0 <= self.holdout < 1:
            raise LabelError(f"holdout must be in [0, 1), got {self.holdout}")
        if len({self.tag, self.good, self.bad}) != 3 or not all(s.strip() for s in (self.tag, self.good, self.bad)):
            raise LabelError("the step tag, good and bad tokens must be three different non-blank strings")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise LabelError("epochs and learning rate must be > 0")
        for name in ("global_batch", "micro_batch", "max_length"):
            if getattr(self, name) < 1:
                raise LabelError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if self.global_batch % self.micro_batch:
            raise LabelError(f"global batch {self.global_batch} is not a multiple of micro batch {self.micro_batch}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise LabelError(f"max steps must be >= 1 (or -1: all epochs), got {self.max_steps}")
        self.labels.validate()
        return self

    def identity(self) -> dict:
        """What the labels depend on: a resumed run must have the same."""
        return {"task": self.task, "data": self.data, "policy": self.policy or self.model, "template": self.template,
                "labels": asdict(self.labels)}


def split_questions(ids: list[str], holdout: float, seed: int) -> set[str]:
    """The held-out question ids: a seeded share (at least one when there are two or more questions)."""
    if holdout <= 0 or len(ids) < 2:
        return set()
    n = min(len(ids) - 1, max(1, round(holdout * len(ids))))
    return set(random.Random(f"holdout/{seed}").sample(sorted(ids), n))


def check_out(out: Path, cfg: PRMConfig, resume: bool, overwrite: bool) -> None:
    if not out.exists() or not any(out.iterdir()):
        return
    if overwrite:
        shutil.rmtree(out)
        return
    saved = out / RUN_FILE
    if not saved.is_file():
        raise LabelError(f"{out} is not empty and holds no PRM run; use another --out or --overwrite")
    if not resume:
        raise LabelError(f"{out} already holds a PRM run; use --resume to continue its labels or --overwrite")
    try:
        old = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise LabelError(f"{saved}: unreadable; use --overwrite to start over") from None
    diff = [k for k, v in cfg.identity().items() if old.get(k) != json.loads(json.dumps(v))]
    if diff:
        raise LabelError(f"{out} holds labels made with other settings ({', '.join(diff)}); --overwrite to start over")


def load_questions(cfg: PRMConfig):
    from ..tasks import TaskError, get_task
    from .labels import EXACT_KINDS

    try:
        task = get_task(cfg.task, data=cfg.data)
        kind = getattr(task, "kind", None)  # hub and file tasks say it up front (generated ones: integer)
        questions = [] if kind is not None and kind not in EXACT_KINDS else task.load()
    except TaskError as e:
        raise LabelError(str(e)) from None
    kinds = sorted({q.kind for q in questions} - set(EXACT_KINDS)) or ([kind] if not questions and kind else [])
    if kinds:
        raise LabelError(f"task {cfg.task!r} is graded as {', '.join(kinds)}; step labels need answers that grade "
                         f"exactly ({', '.join(EXACT_KINDS)}): use a generated task (arith, combinatorics, letters) "
                         "or file:kind=integer")
    if not questions:
        raise LabelError(f"task {cfg.task!r} has no questions")
    return questions


def examples_of(tok, labelled, cfg: PRMConfig, tag_id: int) -> list[tuple[list[int], list[int], list[int]]]:
    """(ids, tag positions, labels) per solution; unlabelled steps and tags past max_length carry no loss."""
    out = []
    for question, steps, labels in labelled:
        ids, pos = shepherd_input(tok, question, steps, cfg.tag, tag_id)
        keep = [(p, y) for p, y in zip(pos, labels) if y is not None and p < cfg.max_length]
        if keep:
            out.append((ids[: cfg.max_length], [p for p, _ in keep], [y for _, y in keep]))
    return out


def tag_scores(model, ids, mask, positions, good_id: int, bad_id: int):
    """[tags, 2] logits of (good, bad) at every tag of a padded batch: the LM head runs on tag positions only."""
    import torch

    base = getattr(model, model.base_model_prefix)
    hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
    rows = torch.tensor([b for b, pos in enumerate(positions) for _ in pos], device=hidden.device)
    cols = torch.tensor([p for pos in positions for p in pos], device=hidden.device)
    return model.get_output_embeddings()(hidden[rows, cols])[:, [good_id, bad_id]].float()


def fine_tune(model, tok, examples, cfg: PRMConfig, good_id: int, bad_id: int, device: str, progress=None) -> dict:
    """AdamW, linear warmup and cosine decay; 2-way cross-entropy at the tag positions (label 1 = good)."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    from .common import padded

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    accum = cfg.global_batch // cfg.micro_batch
    per_epoch = max(1, math.ceil(len(examples) / cfg.global_batch))
    total = cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * per_epoch))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                            weight_decay=cfg.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    model.train()
    order: list[int] = []
    losses = []
    for _ in range(total):
        opt.zero_grad(set_to_none=True)
        step_loss, n_tags = 0.0, 0
        for _ in range(accum):
            if len(order) < cfg.micro_batch:
                more = list(range(len(examples)))
                rng.shuffle(more)
                order += more
            chunk, order = order[: cfg.micro_batch], order[cfg.micro_batch :]
            ids, mask = padded([examples[i][0] for i in chunk], tok.pad_token_id, device)
            target = torch.tensor([1 - y for i in chunk for y in examples[i][2]], device=device)  # class 0 = good
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                logits = tag_scores(model, ids, mask, [examples[i][1] for i in chunk], good_id, bad_id)
            loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
            (loss / cfg.global_batch).backward()  # the mean over examples of each one's summed tag losses
            step_loss += float(loss.detach())
            n_tags += len(target)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(round(step_loss / max(n_tags, 1), 4))
        if progress:
            progress(1)
    model.eval()
    return {"steps": total, "losses": losses}


def accuracy(rm, labelled, train_labels: list[int]) -> dict:
    """Step-label accuracy of `rm` (score > 0.5 means good) on labelled held-out steps, and the rate of
    always answering the training labels' majority class."""
    majority = int(sum(train_labels) * 2 >= len(train_labels)) if train_labels else 1
    hits = total = base = 0
    scores = rm.score([(q, steps) for q, steps, _ in labelled]) if labelled else []
    for (_, _, labels), row in zip(labelled, scores):
        for y, s in zip(labels, row):
            if y is None:
                continue
            total += 1
            hits += int((s > 0.5) == bool(y))
            base += int(y == majority)
    good = sum(y == 1 for _, _, labels in labelled for y in labels)
    return {"held_out_steps": total, "accuracy": round(hits / total, 4) if total else None,
            "majority_class": "good" if majority else "bad",
            "majority_rate": round(base / total, 4) if total else None,  # the training majority, on held-out
            "held_out_majority_rate": round(max(good, total - good) / total, 4) if total else None}


def train_prm(cfg: PRMConfig, resume: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    """Make labels (resumable), fine-tune, save a shepherd-layout PRM in cfg.out; returns the summary."""
    from ..backends.build import check_template_spec, load_engine
    from ..files import write_text_atomic
    from ..models import load_model, load_tokenizer, model_path
    from ..progress import fmt_seconds, progress_bar
    from .common import single_token
    from .prm import ShepherdPRM

    cfg.validate()
    check_template_spec(cfg.template)
    questions = load_questions(cfg)
    model_path(cfg.model), model_path(cfg.policy)  # a missing folder fails before anything is written
    base_tok, _ = load_tokenizer(cfg.model)
    try:  # the good and bad tokens must be tokens of the PRM's tokenizer already (the tag may be added)
        good_id = single_token("prm", base_tok, cfg.good, "good token", "--good")
        bad_id = single_token("prm", base_tok, cfg.bad, "bad token", "--bad")
    except ValueError as e:
        raise LabelError(str(e)) from None
    out = Path(cfg.out)
    check_out(out, cfg, resume, overwrite)
    t0 = time.monotonic()
    engine = load_engine(cfg.policy or cfg.model, cfg.template, None, cfg.device)
    check_fits(engine, questions, cfg.labels)  # a budget beyond the policy's context fails before OUT is made
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / RUN_FILE, json.dumps(cfg.identity(), indent=2) + "\n")
    resumed = len(done_ids(out / LABELS_FILE) & {q.id for q in questions})
    step = progress_bar("prm labels", "questions", len(questions), resumed, resumed) if progress else None
    counts = make_labels(engine, questions, cfg.labels, out / LABELS_FILE, step)
    if step:
        step(None)
    engine.close()  # its KV cache goes now: training needs the memory
    label_s = time.monotonic() - t0

    held = split_questions([q.id for q in questions], cfg.holdout, cfg.seed)
    labelled = read_labels(out / LABELS_FILE)
    train_set = [x[1:] for x in labelled if x[0] not in held]
    test_set = [x[1:] for x in labelled if x[0] in held]
    lm = load_model(cfg.model, dtype="float32", device=cfg.device)
    model, tok = lm.model, lm.tokenizer
    if len(tok.encode(cfg.tag, add_special_tokens=False)) != 1:
        tok.add_tokens([cfg.tag])  # the tag becomes one token (its embedding is learned with the rest)
        model.resize_token_embeddings(len(tok))
    tag_id = tok.encode(cfg.tag, add_special_tokens=False)[0]
    examples = examples_of(tok, train_set, cfg, tag_id)
    if not examples:
        raise LabelError(f"no labelled step to train on in {out / LABELS_FILE} ({counts['solutions']} solutions)")
    t1 = time.monotonic()
    n_total = cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * math.ceil(
        len(examples) / cfg.global_batch)))
    bar = progress_bar("prm train", "steps", n_total) if progress else None
    fit = fine_tune(model, tok, examples, cfg, good_id, bad_id, str(lm.device), bar)
    if bar:
        bar(None)
    train_s = time.monotonic() - t1
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    marks = {"layout": "shepherd", "tag": cfg.tag, "good": cfg.good, "bad": cfg.bad}
    write_text_atomic(out / PRM_FILE, json.dumps(marks, ensure_ascii=False, indent=2) + "\n")
    rm = ShepherdPRM(f"shepherd:{out}", out, {}, cfg.device, "float32")
    acc = accuracy(rm, test_set, [y for _, _, ls in train_set for y in ls if y is not None])
    rm.close()
    summary = {"config": {**cfg.identity(), **{k: v for k, v in asdict(cfg).items() if k != "labels"}},
               "labels": counts, "labels_total": {  # the whole labels file (counts: this run's work only)
                   "solutions": len(labelled), "good": sum(ls.count(1) for *_, ls in labelled),
                   "bad": sum(ls.count(0) for *_, ls in labelled)},
               "train_examples": len(examples), "held_out_solutions": len(test_set),
               "label_seconds": round(label_s, 1), "train_seconds": round(train_s, 1), **fit, **acc}
    write_text_atomic(out / DONE_FILE, json.dumps(summary, indent=2) + "\n")
    if progress:
        print(f"s1 train: labels {fmt_seconds(label_s)}, training {fmt_seconds(train_s)}", flush=True)
    return summary
