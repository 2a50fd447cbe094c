"""Evaluation as clip-italian measured it: retrieval MRR@k / Recall@k and zero-shot
classification accuracy@k, on a torch model or an exported bundle."""
