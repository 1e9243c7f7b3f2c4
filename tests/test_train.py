"""s1 train: the exact s1 text and label mask (Qwen2.5 tokenizer), learning on a tiny model, resume
equivalence, and the saved folder generating with budget forcing."""

import json

import pytest
from helpers import qwen_tokenizer, smol_tokenizer
from transformers import TrainerCallback

import s1
from s1.cli import main
from s1.templates import QWEN_SYSTEM, TEMPLATES
from s1.train import TrainConfig, TrainError, build_examples, train

ROW = {"question": "What is 2+3?", "solution": "5", "deepseek_thinking_trajectory": "2 plus 3 is 5.",
       "deepseek_attempt": "The answer is $\\boxed{5}$.", "gemini_thinking_trajectory": "Add: 5",
       "gemini_attempt": "5"}


def test_s1_text_and_label_mask_token_by_token():
    tok = qwen_tokenizer()
    cfg = TrainConfig(data="x", out="y", system=QWEN_SYSTEM)
    [ex], counts = build_examples([ROW], tok, TEMPLATES["s1"], cfg)
    expected = (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n"
                "<|im_start|>assistant\n<|im_start|>think\n2 plus 3 is 5.\n<|im_start|>answer\n"
                "Answer: The answer is $\\boxed{5}$.<|im_end|>")
    ids, labels = ex["input_ids"], ex["labels"]
    assert tok.decode(ids) == expected
    n_prompt = labels.index(next(t for t in labels if t != -100))
    assert tok.decode(ids[:n_prompt]).endswith("<|im_start|>assistant\n<|im_start|>think\n")
    assert all(t == -100 for t in labels[:n_prompt])  # no loss on system, question, delimiters before thinking
    assert labels[n_prompt:] == ids[n_prompt:]  # loss on thinking, delimiter, answer and <|im_end|>
    assert tok.decode(ids[n_prompt:]).startswith("2 plus 3")
    assert ids[-1] == 151645 and labels[-1] == 151645  # <|im_end|> carries loss
    assert counts["loss_tokens"] == len(ids) - n_prompt


def test_trace_choice_overflow_and_errors():
    tok = smol_tokenizer()
    tpl = TEMPLATES["s1"]
    [g], _ = build_examples([ROW], tok, tpl, TrainConfig(data="x", out="y", trace="gemini"))
    assert "Add: 5" in tok.decode(g["input_ids"])
    [d], _ = build_examples([ROW], tok, tpl, TrainConfig(data="x", out="y"))  # auto: deepseek first
    assert "2 plus 3" in tok.decode(d["input_ids"])
    long = dict(ROW, deepseek_thinking_trajectory="word " * 400)
    exs, c = build_examples([ROW, long], tok, tpl, TrainConfig(data="x", out="y", max_length=120))
    assert c["too_long"] == 1 and c["truncated"] == 1 and max(len(e["input_ids"]) for e in exs) == 120
    exs, c = build_examples([ROW, long], tok, tpl, TrainConfig(data="x", out="y", max_length=120, overflow="drop"))
    assert len(exs) == 1 and c["dropped"] == 1
    with pytest.raises(TrainError, match="missing column"):
        build_examples([{"question": "q", "thinking": "t"}], tok, tpl, TrainConfig(data="x", out="y", trace="plain"))
    with pytest.raises(TrainError, match="cannot tell which columns"):
        build_examples([{"question": "q", "foo": 1}], tok, tpl, TrainConfig(data="x", out="y"))



@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("data") / "s1k.jsonl"
    rows = [dict(ROW, question=f"What is {i}+3?", deepseek_thinking_trajectory=f"{i} plus 3 is {i + 3}.",
                 deepseek_attempt=str(i + 3)) for i in range(8)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def quick(tiny_dir, data_file, out, **kw):
    base = dict(model=str(tiny_dir), data=str(data_file), out=str(out), epochs=2, learning_rate=3e-3,
                global_batch=4, micro_batch=2, max_length=96, warmup_ratio=0.0, seed=1)
    return TrainConfig(**{**base, **kw})


def test_training_lowers_the_loss_and_the_folder_generates(tiny_dir, data_file, tmp_path):
    s = train(quick(tiny_dir, data_file, tmp_path / "ckpt", epochs=6), progress=False)
    assert s["steps"] == 12 and len(s["losses"]) == 12  # 8 examples / batch 4 = 2 steps per epoch
    assert s["losses"][-1] < 0.5 * s["losses"][0]
    for name in ("model.safetensors", "config.json", "tokenizer_config.json", "s1_template.json", "s1_train.json"):
        assert (tmp_path / "ckpt" / name).exists(), name
    engine = s1.load(str(tmp_path / "ckpt"))
    assert engine.template.name == "s1"
    [r] = s1.generate(["What is 4+3?"], engine, min_thinking_tokens=5, max_thinking_tokens=5, max_answer_tokens=4)
    assert r.thinking_tokens == 5 and r.thinking_cut


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.step:
            control.should_training_stop = True
            control.should_save = True


def test_resume_continues_the_same_loss_trajectory(tiny_dir, data_file, tmp_path):
    straight = train(quick(tiny_dir, data_file, tmp_path / "a", save_steps=2), progress=False)
    cfg = quick(tiny_dir, data_file, tmp_path / "b", save_steps=2)
    first = train(cfg, callbacks=[StopAt(2)], progress=False)
    assert first["steps"] == 2
    with pytest.raises(TrainError, match="already holds a training run"):
        train(cfg, progress=False)
    resumed = train(cfg, resume=True, progress=False)
    assert resumed["steps"] == straight["steps"] == 4
    assert resumed["losses"] == pytest.approx(straight["losses"], rel=1e-5)  # same optimizer state and data order


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tiny_dir, data_file, tmp_path):
    """A kill while checkpoint-3 was written left only its config files: --resume continues from
    checkpoint-2 (the last complete one) and ends where an unbroken run ends."""
    straight = train(quick(tiny_dir, data_file, tmp_path / "a", save_steps=1, save_total_limit=5), progress=False)
    cfg = quick(tiny_dir, data_file, tmp_path / "b", save_steps=1, save_total_limit=5)
    train(cfg, callbacks=[StopAt(3)], progress=False)
    torn = tmp_path / "b" / "checkpoint-3"
    for f in torn.iterdir():
        if f.name not in ("config.json", "generation_config.json"):
            f.unlink()
    resumed = train(cfg, resume=True, progress=False)
    assert resumed["steps"] == straight["steps"] == 4
    assert resumed["losses"][-2:] == pytest.approx(straight["losses"][-2:], rel=1e-5)
    assert (tmp_path / "b" / "checkpoint-3" / "trainer_state.json").exists()  # written again, whole


def test_a_torn_run_config_is_one_line(tmp_path, capsys, data_file):
    out = tmp_path / "o"
    out.mkdir()
    (out / "run_config.json").write_text('{"model": nu')  # an older version wrote it in place
    rc = main(["train", "--data", str(data_file), "--out", str(out), "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "run_config.json: unreadable" in err and "--overwrite" in err, err


def test_cli_errors(tmp_path, capsys, data_file):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "x.txt").write_text("keep me")
    cases = [
        (["train", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")], "data not found"),
        (["train", "--data", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "o")], "empty.jsonl: no rows"),
        (["train", "--data", str(tmp_path / "blank.jsonl"), "--out", str(tmp_path / "o")], "blank.jsonl: no rows"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "occupied")], "holds no s1 training run"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "o"), "--model", "/no/such"], "does not exist"),
        (["train", "--out", str(tmp_path / "o")], "no training data"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "o"), "--trace", "gpt"], "unknown trace"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "o"), "--lora", "--lora-r", "0"],
         "lora r must be >= 1, got 0"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "o"), "--max-steps", "0"], "max steps must be >= 1"),
        (["train", "--data", str(data_file), "--out", str(tmp_path / "o"), "--limit", "0"], "limit must be >= 1"),
    ]
    for argv, msg in cases:
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("s1: error: ") and msg in err and err.count("\n") == 1, (argv, err)
    assert (tmp_path / "occupied" / "x.txt").read_text() == "keep me"
    assert not (tmp_path / "o").exists()  # nothing left behind


def test_lora_merges_into_a_plain_model_folder(tiny_dir, data_file, tmp_path):
    from safetensors.torch import load_file

    s = train(quick(tiny_dir, data_file, tmp_path / "lora", lora=True, lora_r=4, epochs=1, save_steps=-1),
              progress=False)
    assert s["steps"] == 2
    assert not (tmp_path / "lora" / "adapter_config.json").exists()
    merged, base = load_file(tmp_path / "lora" / "model.safetensors"), load_file(tiny_dir / "model.safetensors")
    assert set(merged) == set(base)  # the same parameter names: no lora_A / lora_B left
    assert any((merged[k] - base[k]).abs().max() > 0 for k in base if "proj" in k)  # and the update is in them
    assert s1.load(str(tmp_path / "lora")).generate(["What is 1+3?"], s1.BudgetConfig(max_thinking_tokens=3))


def test_memory_estimate_refuses_what_cannot_fit(tiny_dir, data_file, tmp_path, monkeypatch):
    import s1.train as st
    from s1.memory import memory_estimate

    assert memory_estimate(10**9, 10**9, 4, 1024, 2048, 24, False) > 16 * 10**9  # 1B params + AdamW > 16 GB
    monkeypatch.setattr(st, "available_memory", lambda device: 2**20)
    with pytest.raises(TrainError, match=r"estimated .* GiB needed, 0.0 GiB available"):
        train(quick(tiny_dir, data_file, tmp_path / "m"), progress=False)
    assert not (tmp_path / "m").exists()  # refused before anything was written


def test_accelerate_configs_are_valid():
    from pathlib import Path

    from accelerate.commands.config.config_args import ClusterConfig

    root = Path(__file__).parent.parent / "configs"
    for name, procs, machines in [("fsdp_8gpu.yaml", 8, 1), ("fsdp_2x8gpu.yaml", 16, 2)]:
        c = ClusterConfig.from_yaml_file(root / name)
        assert (c.distributed_type.value, c.num_processes, c.num_machines) == ("FSDP", procs, machines)
        assert c.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # a loadable model folder


@pytest.mark.slow
def test_embedded_model_fine_tunes_and_generates(tmp_path):
    """The real default model: a few steps on worked traces, then budget-forced generation from the folder."""
    rows = [{"question": f"Compute {a} + {b}.", "thinking": f"{a} + {b} = {a + b}.", "answer": f"\\boxed{{{a + b}}}"}
            for a, b in [(3, 4), (10, 7), (21, 5), (8, 8), (13, 29), (40, 2), (6, 9), (11, 11)]]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "smol"
    rc = main(["train", "--data", str(data), "--out", str(out), "--max-length", "128", "--global-batch", "4",
               "--micro-batch", "2", "--max-steps", "2", "--lr", "1e-4", "--save-steps", "-1"])
    assert rc == 0
    saved = json.loads((out / "s1_train.json").read_text())
    assert saved["steps"] == 2 and saved["config"]["learning_rate"] == 1e-4 and saved["gradient_accumulation"] == 2
    [r] = s1.generate(["Compute 5 + 6."], s1.load(str(out)), min_thinking_tokens=12, max_thinking_tokens=12,
                      max_answer_tokens=8)
    assert r.thinking_tokens == 12 and r.thinking_cut


def test_packing_falls_back_where_packed_examples_would_see_each_other(tiny_dir, data_file, tmp_path, capsys):
    """Padding-free packing relies on varlen (flash) attention kernels; with sdpa on CPU, two examples
    packed in one row attend to each other, so s1 train batches by length instead."""
    import torch
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(tiny_dir, attn_implementation="sdpa").eval()
    a, b = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10, 11]])
    with torch.no_grad():
        alone = m(b).logits
        packed = m(input_ids=torch.cat([a, b], 1), position_ids=torch.tensor([[0, 1, 2, 3, 0, 1, 2]])).logits
    assert (packed[:, 4:] - alone).abs().max() > 1e-3  # contaminated: b saw a
    s = train(quick(tiny_dir, data_file, tmp_path / "p", packing=True, epochs=1, save_steps=-1), progress=False)
    assert s["packing"] is False and "packing needs flash attention" in capsys.readouterr().out


def test_two_processes_train_like_one(tiny_dir, data_file, tmp_path):
    """The same command under torchrun (2 CPU processes, gloo): gradient accumulation halves, the
    global batch and the loss trajectory stay those of one process."""
    import os
    import subprocess
    import sys

    args = ["train", "--model", str(tiny_dir), "--data", str(data_file), "--global-batch", "4", "--micro-batch", "1",
            "--epochs", "1", "--lr", "3e-3", "--max-length", "96", "--save-steps", "-1"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "s1"] + args
                          + ["--out", str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "s1_train.json").read_text())
    two = json.loads((tmp_path / "two" / "s1_train.json").read_text())
    assert (one["processes"], one["gradient_accumulation"]) == (1, 4)
    assert (two["processes"], two["gradient_accumulation"]) == (2, 2)
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4)
