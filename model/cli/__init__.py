"""Model-side commands. Torch-free at import: each command imports its heavy modules itself,
so `sguardo --help` and the serving install work without the `train` extra."""
