"""Container image tests: marked `container` (pyproject registers it); they build an image,
about a minute warm."""
