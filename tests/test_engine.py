"""The in-loop engine against the re-submission oracle, batching, sampling and compute of finished rows."""

import math
from collections import Counter

import pytest
import torch
from helpers import WORDS, qwen_tokenizer, resubmit_reference, smol_tokenizer, tiny_model

from s1 import TEMPLATES, BudgetConfig, BudgetError, Engine, SamplingConfig
from s1.generation import GenerationError

PROMPTS = [
    "How many r in raspberry?",
    "What is 2+2?",
    "Name a colour, any colour you like, and explain why in a few words.",
    "Count to three.",
    "Is 91 prime?",
]

CONTEXT = 160  # small, so that runs that never stop are cut by the context window quickly

SETTINGS = {
    "max": BudgetConfig(max_thinking_tokens=24, max_answer_tokens=12),
    "max-no-prefix": BudgetConfig(max_thinking_tokens=9, answer_prefix=None, max_answer_tokens=8),
    "min": BudgetConfig(min_thinking_tokens=40, max_answer_tokens=10),
    "min-max": BudgetConfig(min_thinking_tokens=30, max_thinking_tokens=33, max_answer_tokens=10),
    "ignore": BudgetConfig(num_ignore=3, max_answer_tokens=10),
    "ignore-max": BudgetConfig(num_ignore=2, max_thinking_tokens=50, max_answer_tokens=10),
    "rotate": BudgetConfig(num_ignore=4, extend=("Wait", "Hmm, let me check", "Alternatively"), max_answer_tokens=10),
    "zero": BudgetConfig(max_thinking_tokens=0, max_answer_tokens=6),
    "reference-turn-end": BudgetConfig(max_thinking_tokens=24, on_turn_end="delimiter", max_answer_tokens=12),
}


@pytest.fixture(scope="module")
def smol_engine():
    tok = smol_tokenizer()
    return Engine(tiny_model(tok, WORDS, seed=2), tok, TEMPLATES["s1"], CONTEXT)


@pytest.fixture(scope="module")
def qwen_engine():
    tok = qwen_tokenizer()
    return Engine(tiny_model(tok, WORDS, seed=2, arch="qwen2"), tok, TEMPLATES["s1"], CONTEXT)


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("which", ["smol", "qwen"])
def test_greedy_equals_resubmission_oracle(name, which, smol_engine, qwen_engine):
    engine = smol_engine if which == "smol" else qwen_engine
    budget = SETTINGS[name]
    plan = engine.template.plan(engine.tokenizer, budget)
    results = engine.generate(PROMPTS, budget, batch_size=3)  # batches of 3 and 2: padding, dropped rows
    events = Counter()
    for prompt, r in zip(PROMPTS, results):
        ids = engine.tokenizer.encode(engine.render(prompt), add_special_tokens=False)
        expected, info = resubmit_reference(engine.model, ids, plan, engine.context_length)
        assert r.completion_ids == expected, prompt
        assert (r.thinking_tokens, r.num_ignored, r.thinking_cut) == (info["thinking"], info["ignored"], info["cut"])
        if budget.max_thinking_tokens is not None:
            assert r.thinking_tokens <= budget.max_thinking_tokens
        if budget.min_thinking_tokens:
            assert r.thinking_tokens >= budget.min_thinking_tokens
        assert r.answer_tokens <= budget.max_answer_tokens
        # the split of the text by the template agrees with the token counts
        thinking_ids, answer_ids = engine.template.split_ids(engine.tokenizer, r.completion_ids)
        forced = r.thinking_cut or (r.thinking_end == "eos" and budget.on_turn_end == "answer")  # may add a separator
        if not forced or not plan.separator_ids:
            assert len(thinking_ids) == r.thinking_tokens
        events.update(e["kind"] for e in r.events)
    # the tiny model really tries to stop, so the forcing paths are exercised
    if budget.num_ignore or budget.min_thinking_tokens:
        assert events["extend"] > 0


@pytest.mark.parametrize("name", ["max", "min-max", "ignore-max", "zero"])
def test_portable_runner_equals_resubmission_oracle(name, smol_engine):
    """The HFRunner fallback (any transformers causal LM) gives the oracle's tokens as well."""
    from s1.runner import HFRunner

    engine = Engine(smol_engine.model, smol_engine.tokenizer, smol_engine.template, CONTEXT,
                    runner=HFRunner(smol_engine.model))
    plan = engine.template.plan(engine.tokenizer, SETTINGS[name])
    for prompt, r in zip(PROMPTS, engine.generate(PROMPTS, SETTINGS[name], batch_size=3)):
        ids = engine.tokenizer.encode(engine.render(prompt), add_special_tokens=False)
        assert r.completion_ids == resubmit_reference(engine.model, ids, plan, CONTEXT)[0], prompt
    assert isinstance(engine.runner, HFRunner)


def test_qwen_s1_delimiters_are_exact(qwen_engine):
    [r] = qwen_engine.generate(["What is 2+2?"], SETTINGS["max"])
    tail = r.completion_ids[r.thinking_tokens:]
    # thinking cut: newline (unless already there), <|im_start|> answer \n, then "Final Answer:"
    text = qwen_engine.tokenizer.decode(tail)
    assert "<|im_start|>answer\nFinal Answer:" in text
    assert 151644 in tail


def test_batch_size_does_not_change_results(smol_engine):
    budget = SETTINGS["ignore-max"]
    one = smol_engine.generate(PROMPTS, budget, batch_size=1)
    all_ = smol_engine.generate(PROMPTS, budget, batch_size=8)
    assert [r.completion_ids for r in one] == [r.completion_ids for r in all_]


def test_seeded_sampling_is_reproducible_and_batch_independent(smol_engine):
    s = SamplingConfig(temperature=1.0, top_p=0.95, seed=7)
    budget = BudgetConfig(max_thinking_tokens=30, num_ignore=1, max_answer_tokens=8)
    a = smol_engine.generate(PROMPTS, budget, s, batch_size=2)
    b = smol_engine.generate(PROMPTS, budget, s, batch_size=5)
    c = smol_engine.generate(PROMPTS, budget, SamplingConfig(temperature=1.0, top_p=0.95, seed=8), batch_size=5)
    assert [r.completion_ids for r in a] == [r.completion_ids for r in b]
    assert [r.completion_ids for r in a] != [r.completion_ids for r in c]


def test_finished_rows_stop_costing_compute(smol_engine):
    """Every model call of the runner (whichever it is) decodes only the rows still running."""
    runner = smol_engine.runner
    sizes = []
    prefill, decode = runner.prefill, runner.decode
    runner.prefill = lambda slots, prompts: (sizes.append(len(slots)), prefill(slots, prompts))[1]
    runner.decode = lambda slots, tokens: (sizes.append(len(slots)), decode(slots, tokens))[1]
    stats = {}
    try:
        budgets = BudgetConfig(max_thinking_tokens=40, max_answer_tokens=4)
        [rs] = zip(*smol_engine.generate_grid(PROMPTS, [budgets], batch_size=5, stats=stats))
    finally:
        del runner.prefill, runner.decode
    assert sizes[0] == 5
    assert sizes[-1] < 5 and sorted(sizes, reverse=True) == sizes  # the batch only shrinks
    lengths = sorted(len(r.completion_ids) for r in rs)
    # every row costs exactly its own steps: sum over steps of active rows == sum of lengths - 1 each
    assert sum(sizes[1:]) == sum(n - 1 for n in lengths) == stats["decode_row_steps"]
    assert len(sizes) - 1 == stats["forward_steps"] == max(lengths) - 1


def test_budget_beyond_context_is_refused(smol_engine):
    with pytest.raises(BudgetError, match="context window"):
        smol_engine.generate(["hi"], BudgetConfig(max_thinking_tokens=200))
    with pytest.raises(GenerationError, match="empty"):
        smol_engine.generate(["  "], BudgetConfig(max_thinking_tokens=5))


def test_context_window_caps_unbounded_thinking(smol_engine):
    """Every attempt to stop is refused, so only the context window ends the thinking: exactly where
    the delimiter and the longest answer still fit, as the re-submission oracle cuts it too."""
    eng = Engine(smol_engine.model, smol_engine.tokenizer, smol_engine.template, context_length=120)
    budget = BudgetConfig(num_ignore=10 ** 3, max_answer_tokens=8)
    [r] = eng.generate(["What is 2+2?"], budget)
    plan = eng.template.plan(eng.tokenizer, budget)
    assert (r.thinking_end, r.thinking_cut) == ("context", True) and r.num_ignored > 0
    assert r.thinking_tokens == 120 - r.prompt_tokens - plan.reserved_after_thinking()
    assert r.prompt_tokens + len(r.completion_ids) <= 120
    ids = eng.tokenizer.encode(eng.render("What is 2+2?"), add_special_tokens=False)
    assert r.completion_ids == resubmit_reference(eng.model, ids, plan, 120)[0]


def _first_sampled_after_stop(engine, budget, n, seed, mask_stop=False):
    """Thinking traces of n sampled rows (first 6 tokens after the prompt) as a Counter."""
    s = SamplingConfig(temperature=1.0, seed=seed)
    rs = engine.generate(["What is 2+2?"] * n, budget, s, batch_size=n)
    return Counter(tuple(r.completion_ids[:4]) for r in rs)


def _sampled_oracle(model, prompt_ids, plan, steps, gen):
    """Sampled re-submission: sample until a stop token (drawn with the model's probability), drop
    it, append the extension, re-submit. Returns the first `steps` tokens after the prompt."""
    seq, out, ignored = list(prompt_ids), [], 0
    with torch.inference_mode():
        while len(out) < steps:
            logits = model(input_ids=torch.tensor([seq])).logits[0, -1]
            t = int(torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen))
            if t in plan.stop_ids and ignored < plan.budget.num_ignore:
                ext = plan.extend_ids[0]
                ignored += 1
                seq += ext
                out += ext
                continue
            if t in plan.stop_ids:  # an accepted stop: the delimiter closes the thinking
                out += plan.think_end_ids
                break
            seq.append(t)
            out.append(t)
    return tuple(out[:steps])


def test_sampled_ignore_matches_resubmission_distribution():
    """Replacing a sampled stop keeps the model's distribution; masking the stop does not.

    A model whose first thinking token is a stop with high probability: we compare the distribution
    of the first 3 completion tokens of the in-loop engine with the sampled re-submission algorithm
    (chi-square, 600 samples each), and check the test has power against stop-masking."""
    from scipy.stats import chi2_contingency

    tok = smol_tokenizer()
    model = tiny_model(tok, (" a", " b", " c"), seed=3, scale=0.3, only_active=True)
    engine = Engine(model, tok, TEMPLATES["s1"], CONTEXT)
    # the oracle is the s1 reference algorithm: an accepted stop gets the delimiter only
    budget = BudgetConfig(num_ignore=1, max_thinking_tokens=4, answer_prefix=None, max_answer_tokens=2,
                          on_turn_end="delimiter")
    plan = engine.template.plan(tok, budget)
    prompt_ids = tok.encode(engine.render("q"), add_special_tokens=False)
    n = 600
    rs = engine.generate(["q"] * n, budget, SamplingConfig(temperature=1.0, seed=0), batch_size=300)
    ours = Counter(tuple(r.completion_ids[:3]) for r in rs)
    gen = torch.Generator().manual_seed(1)
    ref = Counter(_sampled_oracle(model, prompt_ids, plan, 3, gen) for _ in range(n))
    stop_rate = sum(r.num_ignored for r in rs) / n
    assert 0.1 < stop_rate < 0.9, stop_rate  # stops are common: the ignore path is exercised

    def pvalue(a, b):
        keys = [k for k in set(a) | set(b) if a[k] + b[k] >= 10]
        table = [[a[k] for k in keys], [b[k] for k in keys]]
        return chi2_contingency(table)[1]

    assert pvalue(ours, ref) > 1e-3
    # masking the stop token instead (what min-token features of engines do) is a different process
    stop = sorted(plan.stop_ids)
    masked = Counter()
    g = torch.Generator().manual_seed(2)
    with torch.inference_mode():  # no branching here, so all n rows run as one batch
        seq = torch.tensor([prompt_ids] * n)
        for step in range(3):
            logits = model(input_ids=seq).logits[:, -1].float()
            if step == 0:
                logits[:, stop] = -math.inf
            t = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
            seq = torch.cat([seq, t], dim=1)
    masked.update(tuple(r) for r in seq[:, -3:].tolist())
    assert pvalue(masked, ref) < 1e-6


GRID = [BudgetConfig(max_thinking_tokens=m, num_ignore=k, max_answer_tokens=8)
        for m in (6, 17, None) for k in (0, 2)] + [
    BudgetConfig(min_thinking_tokens=12, max_thinking_tokens=30, max_answer_tokens=8),
    BudgetConfig(max_thinking_tokens=0, max_answer_tokens=5),
]


def _same(a, b):
    assert a.completion_ids == b.completion_ids
    assert (a.thinking_tokens, a.answer_tokens, a.num_ignored, a.thinking_end, a.finish_reason, a.events) == \
        (b.thinking_tokens, b.answer_tokens, b.num_ignored, b.thinking_end, b.finish_reason, b.events)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_shared_grid_equals_separate_runs(temperature, qwen_engine):
    """Prefix sharing: budgets riding along as shadows give exactly what separate runs give,
    greedy and with seeded sampling, and cost fewer decoded rows."""
    cfg = SamplingConfig(temperature=temperature, seed=11)
    shared_stats, separate_stats = {}, {}
    prompts = PROMPTS[:3]
    shared = qwen_engine.generate_grid(prompts, GRID, cfg, batch_size=2, stats=shared_stats)
    separate = qwen_engine.generate_grid(prompts, GRID, cfg, batch_size=2, share=False, stats=separate_stats)
    kinds = Counter()
    for i in range(len(prompts)):
        for j in range(len(GRID)):
            _same(shared[i][j], separate[i][j])
            kinds[shared[i][j].thinking_end] += 1
        # and a one-budget generate() of a grid point is the same run
    single = qwen_engine.generate(prompts, GRID[3], cfg, batch_size=3)
    for i in range(len(prompts)):
        _same(single[i], shared[i][3])
    assert kinds["max_thinking"] and (kinds["stop"] + kinds["eos"])  # both kinds of branch points happen
    assert shared_stats["decode_row_steps"] < 0.8 * separate_stats["decode_row_steps"]
    assert shared_stats["prefill_tokens"] * len(GRID) == separate_stats["prefill_tokens"]


@pytest.mark.slow
def test_embedded_model_matches_recorded_outputs():
    """The embedded model (fp32) gives, token for token, the outputs the engine gave before the step
    core and runners existed (tests/data/engine_reference.json, recorded at commit bae6900): greedy
    and seeded sampling, budgets from 0 to 64 thinking tokens, batch 1 and 5, a shared grid."""
    import json
    from pathlib import Path

    import s1

    ref = json.loads((Path(__file__).parent / "data" / "engine_reference.json").read_text())
    engine = s1.load(template="s1", dtype="float32")  # the template "auto" resolved to when recorded
    for name, case in ref["cases"].items():
        prompts = [ref["prompts"][i] for i in case["prompt_indices"]]
        # recorded before BudgetConfig.on_turn_end existed: the behaviour then was "delimiter"
        turn_end = {"on_turn_end": "delimiter"} if "on_turn_end" in BudgetConfig.__dataclass_fields__ else {}
        budgets = [BudgetConfig(**{**turn_end, **b}) for b in case["budgets"]]
        grid = engine.generate_grid(prompts, budgets, SamplingConfig(**case["sampling"]),
                                    batch_size=case["batch_size"])
        for i, (row, expected) in enumerate(zip(grid, case["results"], strict=True)):
            for j, (r, e) in enumerate(zip(row, expected, strict=True)):
                got = r.to_dict(ids=True) | {"thinking": None, "answer": None}
                assert got == e, (name, i, j)
