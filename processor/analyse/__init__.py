"""Pure computation on frames: one module per analysis."""
