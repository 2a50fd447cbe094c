"""Sguardo: Italian image–text search. Train, export and serve an Italian CLIP.

The floors of the house, bottom up:
- `sguardo.bundle`: the model bundle contract (manifest, tensor names, torch-free preprocessing,
  loader, paths) that the training side writes and the serving side reads;
- `sguardo.model` (the repository's `model/`): PyTorch training, evaluation and export;
  `sguardo.service` (the repository's `service/`): the torch-free search service. Neither
  imports the other;
- `sguardo.cli`: the `sguardo` command, the root of both sides.
"""
