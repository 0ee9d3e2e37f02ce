"""Detection-as-code: pure functions over (event, state) returning findings. No I/O, no daemon imports."""
