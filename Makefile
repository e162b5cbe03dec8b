# Everything runs in a local virtual environment, .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1

.PHONY: setup test test-fast lint quickstart demo demo-sums sweep sweep-graded ablation ablation-graded adapt-graded rollout-budget-graded groupnorm-graded ablation-multi-sums compare compare-graded budget-demo notebooks bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	$(BIN)/python -m pytest -q

# Everything but the end-to-end tests (training runs, subprocess launches, notebooks): about a minute
test-fast: setup lint
	$(BIN)/python -m pytest -q -m "not slow"

quickstart: setup
	$(BIN)/python recipes/quickstart.py

# The graded task (easy / medium / hard tiers): the start, alpha = 0 and alpha = 0.2, with the per-tier table and plot
demo: setup
	$(BIN)/python recipes/demo.py

# The same three models on the sums task (the README's first demo table)
demo-sums: setup
	$(BIN)/python recipes/demo.py --task sums

# The sums task, as the committed notebooks/demo_runs/sweep and ablation runs were made
sweep: setup
	$(BIN)/python recipes/demo.py --task sums --alphas 0 0.05 0.1 0.2 0.4 --baselines

# The same sweep on the graded task, with the per-tier table and plot
sweep-graded: setup
	$(BIN)/python recipes/demo.py --task graded --alphas 0 0.05 0.1 0.2 0.4 --baselines

ablation: setup
	$(BIN)/python recipes/demo.py --task sums --alphas 0.05 0.2 --normalizations none group

# On the graded task, three seeds each (notebooks/demo_runs/ablation_graded, groupnorm_graded): the authors' code's
# token-level whitening against the method at alpha 0 and 0.2, and the paper's group normalization at two alphas
ablation-graded: setup
	for seed in 0 1 2; do $(BIN)/python recipes/demo.py --task graded --alphas 0 0.2 \
		--normalizations none batch_token --seed $$seed --run_dir runs/ablation-graded/seed_$$seed || exit 1; done

# AdaptThink's adapt_think reward on the graded task with the three seeds of ablation-graded, beside its alpha family
# (same steps, batch and seeds; the comparison: notebooks/graded_tiers.ipynb). Each seed samples the starting model's
# accuracy on the 480 training prompts (16 samples each), trains the adapt_think model, evaluates it and the start
adapt-graded: setup
	for seed in 0 1 2; do $(BIN)/python recipes/demo.py --task graded --methods adapt_think \
		--seed $$seed --run_dir runs/adapt-graded/seed_$$seed || exit 1; done

# Elastic Reasoning's budget-constrained rollouts on the graded task, 3 seeds: alpha 0 and 0.2 each trained as usual
# and with every training rollout's thinking kept within 96 tokens (where forcing costs the start model half its hard
# accuracy), every model evaluated plain and forced at 64, 96 and 128 thinking tokens, per tier
rollout-budget-graded: setup
	for seed in 0 1 2; do $(BIN)/python recipes/demo.py --task graded --alphas 0 0.2 --rollout_thinking_budget 96 \
		--eval_thinking_budgets 64 96 128 --seed $$seed --run_dir runs/rollout-budget-graded/seed_$$seed || exit 1; done

groupnorm-graded: setup
	for seed in 0 1 2; do $(BIN)/python recipes/demo.py --task graded --alphas 0.05 0.2 \
		--normalizations none group --seed $$seed --run_dir runs/groupnorm-graded/seed_$$seed || exit 1; done

# The same ablation on the task where skipping steps costs accuracy (2 to 6 distinct digits; its longest
# solutions need about 140 tokens, hence the 200-token limit)
ablation-multi-sums: setup
	$(BIN)/python recipes/demo.py --task multi_sums --alphas 0.05 0.2 --normalizations none group \
		--max_completion_length 200

# Every length reward without a token budget, at its default and a stronger setting, on both demo tasks, with the
# same budget; one Pareto plot per task (24 models, two at a time: 25 minutes on 2 cores shared with other jobs,
# 1,473 CPU seconds)
compare: setup
	$(BIN)/python recipes/compare.py

# The fair comparison on the graded task: every reward at three strengths, under the common setting and as its
# authors trained it, with three seeds (33 models per seed); per tier a Pareto plot, the tokens saved at no more than
# 1 point of accuracy lost (mean ± SE over seeds, savings.png) and the ranking, "unresolved" where the seeds disagree
compare-graded: setup
	$(BIN)/python recipes/compare.py --tasks graded --settings all --as_published --seeds 0 1 2 \
		--max_completion_length 256

# A model trained to follow a token budget in its prompt (L1) against budget forcing and the alpha family
budget-demo: setup
	$(BIN)/python recipes/budget_demo.py --alpha_run notebooks/demo_runs/sweep

# Re-render the committed notebooks (figures and tables) from the run outputs they point at (notebooks/demo_runs)
notebooks: setup
	cd notebooks && ../$(BIN)/jupyter execute --inplace *.ipynb

bench: setup
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/grader_throughput.py
	$(BIN)/python benchmarks/eval_throughput.py
	$(BIN)/python benchmarks/demo_targets.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
