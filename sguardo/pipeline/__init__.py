"""The nightly retraining pipeline: new data → candidate model → gate → rollout.

It spans both sides (it trains with `sguardo.model` and reindexes with `sguardo.service`), so
it stands above them, next to the root command. Every step records its outcome in the run
directory's state file, so running the same command again resumes where a run stopped.
"""
