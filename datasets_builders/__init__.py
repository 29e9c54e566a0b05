"""Packaged `datasets` builders of sft-vs-rl (one folder per task: a `builder.py` and a `README.md` dataset card).

Load them through `sft_vs_rl.load_dataset("sft_vs_rl/generalpoints", "gp-l-id")`, which also seeds the `datasets`
cache so that the stock `datasets.load_dataset("sft_vs_rl/generalpoints", "gp-l-id")` works offline afterwards.
"""
