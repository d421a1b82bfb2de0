"""Training: optimizers, learning-rate schedules, callbacks and the fit loop."""
