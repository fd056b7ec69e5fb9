"""TensorFlow: define-by-run (`tensorflow/eager`), traced graphs (`tensorflow/function`) and TF1 graphs (`tensorflow/session`)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # before tensorflow is first imported: no INFO/WARNING spam
