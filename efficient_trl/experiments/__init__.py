"""The CPU experiments: one engine (`engine`: start a run directory, train one model spec, evaluate one model, run
jobs two at a time) over settings shared by every plan (`settings`), and the plans as data plus a main: `demo` (the
alpha sweep, its baselines and the normalization ablation), `compare` (the length rewards of the registry),
`budget_demo` (a model that follows a token budget) and `demo_model` (a demo task's starting model)."""
