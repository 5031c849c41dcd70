"""nn: modules, losses, optimizers and data for tinygrad_np (filled in by the nn issue)."""
