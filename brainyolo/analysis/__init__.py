"""Analysis of recorded runs: spike statistics and energy, figures, annotated pictures, benchmarks."""
