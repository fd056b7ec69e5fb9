"""PyTorch: define-by-run autograd (`torch/eager`) and graph capture (`torch/compile`)."""
import shutil

ORDER = 20
FRAMEWORKS = {"torch": {
    "imports": ("torch",), "extra": "torch",
    "modes": {"eager": {"paradigm": "define-by-run", "colour": "#D55E00"},
              "compile": {"paradigm": "define-and-run", "colour": "#E69F00", "quick": False,   # its build takes tens of seconds
                          "retrace": "dynamo guards fail on the new shape and it recompiles (marking the dimension dynamic)"}},
}}


def skip_reason(fw, mode, device):
    """torch.compile on CPU writes C++ and compiles it."""
    if mode == "compile" and device == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
    return None
