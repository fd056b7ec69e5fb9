"""TensorFlow: define-by-run (`tensorflow/eager`), traced graphs (`tensorflow/function`) and TF1 graphs (`tensorflow/session`)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # before tensorflow is first imported: no INFO/WARNING spam

ORDER = 30
FRAMEWORKS = {"tensorflow": {
    "imports": ("tensorflow",), "extra": "tensorflow",
    "modes": {"eager": {"paradigm": "define-by-run", "colour": "#009E73"},
              "function": {"paradigm": "define-and-run", "colour": "#56B4E9",
                           "retrace": "tf.function traces the step again for the new input shapes"},
              "session": {"paradigm": "define-and-run", "colour": "#0072B2",
                          "retrace": "placeholders have fixed shapes, so a new batch size means building a new Graph "
                                     "and Session; the build is counted in first_step_s"}},
}}
DISTS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


def skip_reason(fw, mode, device):
    """A GPU needs TensorFlow's CUDA build."""
    from bench.registry import distributions
    dists = distributions() if device == "gpu" else set()
    if "tensorflow-cpu" in dists and "tensorflow" not in dists:
        return "tensorflow-cpu is installed, which has no GPU support (pip install 'tensorflow[and-cuda]')"
    return None
