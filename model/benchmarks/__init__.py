"""Offline quality benchmarks on real data (../shared/data) with the real backbones."""
