"""JAX: define-by-run `jax.grad` op by op (`jax/eager`) and traced + XLA-compiled (`jax/jit`)."""
