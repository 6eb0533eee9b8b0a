"""Pure statistics for ``harness compare`` (numpy/scipy only), each tested against a reference."""
