"""The trainer: clip-italian's recipe (symmetric InfoNCE, fixed temperature, two freezing
phases, AdaBelief + adaptive gradient clipping) in PyTorch, scaling out with torchrun."""
