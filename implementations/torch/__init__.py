"""PyTorch: define-by-run autograd (`torch/eager`) and graph capture (`torch/compile`)."""
