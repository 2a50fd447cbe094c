"""The original bytes of every indexed image, kept so a new model can re-embed the gallery."""
