"""rollouts: autoregressive rollout, metrics, plots and export.

Not built yet: see the rollouts issue.
"""
