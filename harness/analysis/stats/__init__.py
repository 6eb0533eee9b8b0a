"""Pure statistics for ``harness compare`` (numpy, scipy, statsmodels), each tested against a reference."""
