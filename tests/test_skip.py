"""A cell that cannot run here is skipped with a reason a person can act on, never run elsewhere."""
import importlib.util

import pytest

from bench import api, registry


def test_missing_framework_is_a_skip_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    assert api.skip_reason("jax/jit", "cpu") == "jax is not installed (pip install -e '.[jax]')"
    with pytest.raises(api.SkipCell, match="jax is not installed"):
        api.make("mlp", "jax/jit")
    assert api.skip_reason("numpy/manual", "cpu") is None


NO_GPU = "no GPU on this machine (no NVIDIA driver found)"


def test_gpu_cells_skip_without_a_gpu(monkeypatch):
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: False)
    monkeypatch.setattr(registry, "_installed", lambda name: True)      # every framework (and CuPy) installed
    for impl in registry.IMPLS:
        assert api.skip_reason(impl, "gpu") == NO_GPU, impl
        assert api.skip_reason(impl, "cpu") is None or impl == "torch/compile", impl
        with pytest.raises(api.SkipCell, match="no GPU on this machine"):
            api.make("elementwise", impl, device="gpu")


def test_a_missing_framework_is_named_before_the_gpu(monkeypatch):
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(registry, "_installed", lambda name: name != "cupy")
    assert api.skip_reason("numpy/manual", "gpu") == "cupy is not installed (pip install cupy-cuda12x)"
    assert api.skip_reason("numpy/manual", "cpu") is None


def test_skip_reason_rejects_unknown_names():
    with pytest.raises(ValueError, match="valid devices"):
        api.skip_reason("numpy/manual", "npu")
    with pytest.raises(ValueError, match="valid implementations"):
        api.skip_reason("numpy", "cpu")


def test_install_hints_fit_a_checkout_and_a_wheel(tmp_path):
    assert registry.install_hint("torch", tmp_path) == "pip install 'fwbench[torch]'"        # site-packages
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'fwbench'\n")
    assert registry.install_hint("torch", tmp_path) == "pip install -e '.[torch]'"           # a checkout
