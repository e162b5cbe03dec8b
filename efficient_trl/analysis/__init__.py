"""Read what the toolkit writes and draw the paper's figures: accuracy against tokens, training dynamics, the
normalization ablation, the budget and Pareto plots (a model card's table is `efficient_trl.model_card`'s).

One module per job, imports flowing one way (results <- tables <- plots <- seeds):
- `results`: result rows of evaluation run directories and training logs, with how each model was trained (its
  family, from its provenance) and their order;
- `tables`: Markdown tables of result rows;
- `styles`: how a model looks in every figure (colour, line style, marker, label);
- `plots`: the figures;
- `seeds`: the runs of one plan's seeds read as one set of rows (mean and standard error across seeds), whether the
  seeds resolve a difference, the comparison's figures and ranking across seeds, and plans side by side per tier.

Notebooks and scripts import from here: `from efficient_trl.analysis import load_results, plot_tradeoff`.
"""

from .plots import (
    DYNAMICS_METRICS,
    budget_report,
    plot_budget_adherence,
    plot_normalization_ablation,
    plot_pareto,
    plot_tiers,
    plot_tradeoff,
    plot_training_dynamics,
)
from .results import (
    TrainingLog,
    load_budget_results,
    load_results,
    load_training_log,
    load_training_logs,
    pareto_frontier,
    provenance_fields,
    select,
    tier_rows,
    tradeoff_rows,
)
from .seeds import (
    compare_methods,
    format_savings_ranking,
    format_seed_table,
    format_tier_comparison,
    load_seed_comparison,
    load_seed_results,
    plot_seed_pareto,
    plot_tier_comparison,
    plot_token_savings,
    seed_difference,
    token_savings,
)
from .styles import model_label, model_style
from .tables import (
    format_budget_table,
    format_forced_budget_table,
    format_tier_table,
    format_tradeoff_table,
    tier_table,
)

__all__ = [
    "DYNAMICS_METRICS",
    "TrainingLog",
    "budget_report",
    "compare_methods",
    "format_budget_table",
    "format_forced_budget_table",
    "format_savings_ranking",
    "format_seed_table",
    "format_tier_comparison",
    "format_tier_table",
    "format_tradeoff_table",
    "load_budget_results",
    "load_seed_comparison",
    "load_results",
    "load_seed_results",
    "load_training_log",
    "load_training_logs",
    "model_label",
    "model_style",
    "pareto_frontier",
    "plot_budget_adherence",
    "plot_pareto",
    "plot_seed_pareto",
    "plot_tier_comparison",
    "plot_token_savings",
    "plot_normalization_ablation",
    "plot_tiers",
    "plot_tradeoff",
    "plot_training_dynamics",
    "provenance_fields",
    "seed_difference",
    "select",
    "tier_rows",
    "tier_table",
    "token_savings",
    "tradeoff_rows",
]
