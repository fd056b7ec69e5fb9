"""JAX: define-by-run `jax.grad` op by op (`jax/eager`) and traced + XLA-compiled (`jax/jit`)."""

ORDER = 40
FRAMEWORKS = {"jax": {
    "imports": ("jax",), "extra": "jax",
    # quick leaves out the eager CNN: its first step compiles every op (~8 s here), most of the profile's minute
    "modes": {"eager": {"paradigm": "define-by-run", "colour": "#CC79A7", "quick": ("elementwise", "single_layer", "mlp")},
              "jit": {"paradigm": "define-and-run", "colour": "#8B5A9E",
                      "retrace": "jax.jit lowers and XLA compiles the step again for the new shapes"}},
}}


def skip_reason(fw, mode, device):
    """A GPU needs jax's CUDA plugin."""
    from bench.registry import distributions
    if device == "gpu" and not any(d.startswith("jax-cuda") for d in distributions()):
        return "jax has no CUDA plugin installed (pip install 'jax[cuda12]')"
    return None
