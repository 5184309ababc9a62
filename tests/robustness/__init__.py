"""Robustness: generated and mutated inputs never escape as anything but initdsl's own errors."""
