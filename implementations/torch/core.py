"""torch/eager and torch/compile: tensors on the device, autograd for gradients, a fused SGD update."""
import torch

from bench.workload import SkipCell, Workload


def device_of(device):
    """The torch device for "cpu"/"gpu": SkipCell for a CPU-only build; CUDA that fails to start is an error."""
    if device == "gpu":
        if not torch.backends.cuda.is_built():
            raise SkipCell("torch is a CPU-only build (pip install torch from the CUDA index)")
        if not torch.cuda.is_available():
            torch.cuda.init()                       # raises why CUDA did not start
            raise RuntimeError("torch could not start CUDA")
        torch.backends.cuda.matmul.allow_tf32 = False     # strict float32, as every other framework here
        torch.backends.cudnn.allow_tf32 = False
        return torch.device("cuda")
    return torch.device("cpu")


def set_threads(n):
    torch.set_num_threads(n)


def compile_count():
    """Graphs dynamo has compiled so far in this process."""
    from torch._dynamo.utils import counters
    return int(counters["stats"]["unique_graphs"])


class Eager(Workload):
    """Define-by-run: the graph is recorded while the step runs, then `torch.autograd.grad` walks it."""

    def setup(self, inputs, params):
        self.dev = device_of(self.device)
        self._inputs = {k: torch.as_tensor(v, device=self.dev) for k, v in inputs.items()}
        self._params = {k: torch.as_tensor(v, device=self.dev).requires_grad_() for k, v in params.items()}
        self._plist = list(self._params.values())
        self.loss_fn = self.fn
        self._last = None

    def loss_and_grads(self):
        loss = self.loss_fn(self._params, self._inputs, **self.cfg)
        return loss, torch.autograd.grad(loss, self._plist)

    def grads(self):
        loss, grads = self.loss_and_grads()
        return float(loss.detach()), {k: g.detach().cpu().numpy() for k, g in zip(self._params, grads)}

    def step(self):
        loss, grads = self.loss_and_grads()
        if self.update:
            self.sgd(grads)
        self._last = grads

    def sgd(self, grads):
        with torch.no_grad():
            torch._foreach_add_(self._plist, grads, alpha=-self.lr)

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def params(self):
        return {k: v.detach().cpu().numpy().copy() for k, v in self._params.items()}


class Compile(Eager):
    """Graph capture: dynamo traces the loss, inductor compiles forward and backward; the first call is the build."""

    def compile(self):
        self.loss_fn = torch.compile(self.fn, fullgraph=True)
        self.sgd = torch.compile(Eager.sgd.__get__(self), fullgraph=True)
        _, grads = self.loss_and_grads()
        if self.update:   # compile the update too, then undo it: build must leave params as they were
            saved = [p.detach().clone() for p in self._plist]
            self.sgd(grads)
            with torch.no_grad():
                for p, s in zip(self._plist, saved):
                    p.copy_(s)
        self.sync()

    def traces(self):
        return compile_count()
