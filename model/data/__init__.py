"""Training data: readers for the formats Italian image–text data comes in, caption cleaning,
augmentations and the dataset that feeds the trainer. Torch-free except `dataset`."""
