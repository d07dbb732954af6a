"""PyTorch frontend: nn.Module -> float Graph, by torch.fx symbolic tracing.

    g = from_torch(model, (1, 1, 8, 8))      # input %x:f32[1,1,8,8], output the logits

The module is converted as it runs in eval mode: BatchNorm uses its running statistics,
Dropout disappears. Supported (anything else raises UnsupportedTorchOp naming the module or
function and its fx node):

    nn.Conv2d (any stride/padding/groups, bias or not)   -> conv2d
    nn.BatchNorm2d / BatchNorm1d                          -> batch_norm (x, gamma, beta, mean, var)
    nn.ReLU, F.relu, torch.relu, x.relu()                 -> clamp[lo=0.0, hi=None]
    nn.ReLU6, F.relu6, hardtanh(0, 6)                     -> clamp[lo=0.0, hi=6.0]
    x + y, x += y, torch.add(x, y), x.add(y)              -> add
    AdaptiveAvgPool2d(1), avg pool over the whole map,
      x.mean((2, 3), keepdim=True)                        -> global_avgpool (+ reshape without keepdim)
    nn.MaxPool2d, F.max_pool2d                            -> maxpool2d
    nn.Linear                                             -> linear
    nn.Flatten, torch.flatten, x.view(x.size(0), -1), reshape -> reshape (shape without batch)
    nn.Identity, nn.Dropout*, F.dropout, x.contiguous()   -> nothing

torch is imported inside the functions only (an optional dependency).
"""
from __future__ import annotations

import operator

import numpy as np

from ..ir.dtype import F32
from ..ir.graph import Graph
from ..ops.builder import GraphBuilder
from ..errors import InputError, McuError, MissingDependency, UsageError
from ..ir.serialize import one_line


class UnsupportedTorchOp(InputError):
    """A module, function or method the frontend cannot convert."""


class _Batch:
    """The symbolic batch dimension (x.size(0), x.shape[0])."""

    def __repr__(self):
        return "N"


BATCH = _Batch()


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _arg(node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[1])) if len(v) == 2 else (int(v[0]), int(v[0]))
    return int(v), int(v)


def _target_name(target) -> str:
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or ""
    return f"{mod}.{getattr(target, '__qualname__', getattr(target, '__name__', target))}".lstrip(".")


def _where(node) -> str:
    return f"fx node '{node.name}' ({node.op} {_target_name(node.target)})"


class _Converter:
    def __init__(self, gm, shape):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.gb = GraphBuilder()
        self.gb.meta = {"source": "torch"}
        self.env: dict = {}  # fx node -> our value name (tensors) or python value (sizes)
        self.shape = tuple(int(d) for d in shape)
        self.params: dict = {}  # module path -> tuple of param names (shared modules)
        self._table = None  # call_function target -> handler

    # -- helpers -----------------------------------------------------------------------------
    def fail(self, node, what: str):
        raise UnsupportedTorchOp(f"from_torch: {what} at {_where(node)}; supported: Conv2d, "
                                 "BatchNorm2d, ReLU, ReLU6, add, global average pool, MaxPool2d, "
                                 "Linear, flatten/view/reshape, Identity, Dropout")

    def tensor(self, node, a) -> str:
        v = self.env[a] if hasattr(a, "op") else a
        if not isinstance(v, str):
            self.fail(node, f"expected a tensor argument, got {v!r}")
        return v

    def value(self, node, a):
        """A python argument with fx nodes replaced by what they stand for."""
        if hasattr(a, "op"):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(node, x) for x in a)
        return a

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.gb.value(name).shape

    def emit(self, node, op, inputs, attrs=None) -> str:
        try:
            return self.gb.emit1(op, inputs, attrs, name=node.name)
        except ValueError as e:
            raise UnsupportedTorchOp(f"from_torch: {op} at {_where(node)}: {e}") from None

    def param(self, name: str, arr) -> str:
        return self.gb.param(name, arr, F32)

    # -- conversions ---------------------------------------------------------------------------
    def conv2d(self, node, m, path) -> str:
        if m.padding_mode != "zeros" or _pair(m.dilation) != (1, 1):
            self.fail(node, f"Conv2d with padding_mode={m.padding_mode!r}, dilation={m.dilation}")
        pad = m.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            elif pad == "same" and _pair(m.stride) == (1, 1) and all(k % 2 for k in m.kernel_size):
                pad = tuple(k // 2 for k in m.kernel_size)
            else:
                self.fail(node, f"Conv2d padding={pad!r} with stride {m.stride}")
        if path not in self.params:
            w = _np(m.weight)
            b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0], np.float32)
            self.params[path] = (self.param(f"{path}.weight", w), self.param(f"{path}.bias", b))
        attrs = dict(stride=_pair(m.stride), padding=_pair(pad), groups=int(m.groups))
        return self.emit(node, "conv2d", [self.tensor(node, node.args[0]), *self.params[path]],
                         attrs)

    def batch_norm(self, node, m, path) -> str:
        if m.running_mean is None or m.running_var is None:
            self.fail(node, "BatchNorm without running statistics (track_running_stats=False)")
        if path not in self.params:
            c = m.num_features
            gamma = _np(m.weight) if m.weight is not None else np.ones(c, np.float32)
            beta = _np(m.bias) if m.bias is not None else np.zeros(c, np.float32)
            self.params[path] = tuple(self.param(f"{path}.{k}", a) for k, a in (
                ("weight", gamma), ("bias", beta), ("running_mean", _np(m.running_mean)),
                ("running_var", _np(m.running_var))))
        return self.emit(node, "batch_norm", [self.tensor(node, node.args[0]), *self.params[path]],
                         dict(eps=float(m.eps)))

    def linear(self, node, m, path) -> str:
        if path not in self.params:
            w = _np(m.weight)
            b = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0], np.float32)
            self.params[path] = (self.param(f"{path}.weight", w), self.param(f"{path}.bias", b))
        return self.emit(node, "linear", [self.tensor(node, node.args[0]), *self.params[path]])

    def clamp(self, node, x, lo, hi) -> str:
        return self.emit(node, "clamp", [x], dict(lo=lo, hi=hi))

    def hardtanh(self, node, x, lo, hi) -> str:
        if float(lo) != 0.0 or float(hi) != 6.0:
            self.fail(node, f"hardtanh({lo}, {hi}) (only hardtanh(0, 6), i.e. ReLU6)")
        return self.clamp(node, x, 0.0, 6.0)

    def gap(self, node, x, keepdim=True) -> str:
        y = self.emit(node, "global_avgpool", [x])
        if keepdim:
            return y
        return self.gb.emit1("reshape", [y], dict(shape=(self.shape_of(y)[1],)),
                             name=f"{node.name}.flat")

    def avgpool(self, node, x, kernel, stride, padding) -> str:
        h, w = self.shape_of(x)[2:]
        if _pair(kernel) != (h, w) or _pair(padding) != (0, 0):
            self.fail(node, f"average pooling kernel {kernel} over a {h}x{w} map (only a pool "
                            "covering the whole map, i.e. global average pooling)")
        return self.gap(node, x)

    def maxpool(self, node, x, kernel, stride, padding, dilation=1, ceil_mode=False) -> str:
        if _pair(dilation) != (1, 1) or ceil_mode:
            self.fail(node, "max pooling with dilation or ceil_mode")
        stride = kernel if stride is None or stride == [] or stride == () else stride
        attrs = dict(kernel=_pair(kernel), stride=_pair(stride), padding=_pair(padding))
        return self.emit(node, "maxpool2d", [x], attrs)

    def mean(self, node, x, dims, keepdim) -> str:
        nd = len(self.shape_of(x))
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if nd != 4 or sorted(d % nd for d in dims) != [2, 3]:
            self.fail(node, f"mean over dims {dims} (only the spatial mean over (2, 3))")
        return self.gap(node, x, bool(keepdim))

    def flatten(self, node, x, start=1, end=-1) -> str:
        nd = len(self.shape_of(x))
        if start % nd != 1 or end % nd != nd - 1:
            self.fail(node, f"flatten(start_dim={start}, end_dim={end}) (only flatten from dim 1)")
        feat = int(np.prod(self.shape_of(x)[1:]))
        return self.emit(node, "reshape", [x], dict(shape=(feat,)))

    def reshape(self, node, x, dims) -> str:
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = tuple(dims[0])
        shape = self.shape_of(x)
        feat = int(np.prod(shape[1:]))
        first, rest = (dims[0], list(dims[1:])) if dims else (None, [])
        bad = (first is None or not (first is BATCH or first in (-1, shape[0])) or not rest
               or any(d is BATCH or not isinstance(d, int) or d == 0 or d < -1 for d in rest)
               or rest.count(-1) + (first is not BATCH and first == -1) > 1)
        if not bad:
            known = int(np.prod([d for d in rest if d != -1]))
            if -1 in rest:
                bad = feat % known != 0
                rest = [feat // known if d == -1 else d for d in rest]
            else:
                bad = known != feat
        if bad:
            self.fail(node, f"reshape of {list(shape)} to {dims} (the first dimension must "
                            "stay the batch)")
        return self.emit(node, "reshape", [x], dict(shape=tuple(int(d) for d in rest)))

    def add(self, node):
        a, b = (self.value(node, v) for v in node.args[:2])
        alpha = node.kwargs.get("alpha", 1)
        if not (isinstance(a, str) and isinstance(b, str)) or alpha != 1:
            if isinstance(a, int) and isinstance(b, int):
                return a + b  # python arithmetic on sizes
            self.fail(node, "add with a scalar or alpha != 1 (only tensor + tensor)")
        return self.emit(node, "add", [a, b])

    # -- dispatch ------------------------------------------------------------------------------
    def call_module(self, node):
        import torch.nn as nn

        m, path = self.modules[node.target], str(node.target)
        passthrough = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
        known = passthrough + (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.Linear, nn.ReLU,
                               nn.Hardtanh, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d,
                               nn.Flatten)
        if not isinstance(m, known):
            self.fail(node, f"unsupported module {type(m).__module__}.{type(m).__name__} "
                            f"('{path}')")
        x = self.tensor(node, node.args[0])
        if isinstance(m, passthrough):
            return x
        if isinstance(m, nn.Conv2d):
            return self.conv2d(node, m, path)
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            return self.batch_norm(node, m, path)
        if isinstance(m, nn.Linear):
            return self.linear(node, m, path)
        if isinstance(m, nn.ReLU6):  # before Hardtanh: ReLU6 is a Hardtanh subclass
            return self.clamp(node, x, 0.0, 6.0)
        if isinstance(m, nn.ReLU):
            return self.clamp(node, x, 0.0, None)
        if isinstance(m, nn.Hardtanh):
            return self.hardtanh(node, x, m.min_val, m.max_val)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self._adaptive(node, x, m.output_size)
        if isinstance(m, nn.AvgPool2d):
            if m.divisor_override is not None:
                self.fail(node, "AvgPool2d with divisor_override")
            return self.avgpool(node, x, m.kernel_size, m.stride, m.padding)
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                self.fail(node, "MaxPool2d(return_indices=True)")
            return self.maxpool(node, x, m.kernel_size, m.stride, m.padding, m.dilation,
                                m.ceil_mode)
        return self.flatten(node, x, m.start_dim, m.end_dim)

    def _functions(self):
        import torch
        import torch.nn.functional as F

        def relu(n):
            return self.clamp(n, self.tensor(n, n.args[0]), 0.0, None)

        def relu6(n):
            return self.clamp(n, self.tensor(n, n.args[0]), 0.0, 6.0)

        def x_(n):
            return self.tensor(n, n.args[0])

        table = {
            F.relu: relu, torch.relu: relu, torch.relu_: relu, F.relu6: relu6,
            F.hardtanh: lambda n: self.hardtanh(n, x_(n), _arg(n, 1, "min_val", -1.0),
                                                _arg(n, 2, "max_val", 1.0)),
            operator.add: self.add, operator.iadd: self.add, torch.add: self.add,
            F.adaptive_avg_pool2d: lambda n: self._adaptive(n, x_(n), _arg(n, 1, "output_size")),
            F.avg_pool2d: lambda n: self.avgpool(n, x_(n), _arg(n, 1, "kernel_size"),
                                                 _arg(n, 2, "stride"), _arg(n, 3, "padding", 0)),
            F.max_pool2d: lambda n: self.maxpool(
                n, x_(n), _arg(n, 1, "kernel_size"), _arg(n, 2, "stride"),
                _arg(n, 3, "padding", 0), _arg(n, 4, "dilation", 1), _arg(n, 5, "ceil_mode", False)),
            torch.mean: lambda n: self.mean(n, x_(n), _arg(n, 1, "dim"),
                                            _arg(n, 2, "keepdim", False)),
            torch.flatten: lambda n: self.flatten(n, x_(n), _arg(n, 1, "start_dim", 0),
                                                  _arg(n, 2, "end_dim", -1)),
            torch.reshape: lambda n: self.reshape(n, x_(n), tuple(self.value(n, n.args[1]))),
            F.dropout: x_, F.dropout2d: x_,
            operator.getitem: self._getitem, getattr: self._getattr,
            operator.mul: self._size_arith, operator.floordiv: self._size_arith,
        }
        return table

    def _adaptive(self, node, x, size):
        if _pair(size) != (1, 1):
            self.fail(node, f"adaptive_avg_pool2d to {size} (only output size 1)")
        return self.gap(node, x)

    def _getattr(self, node):
        x, attr = self.value(node, node.args[0]), node.args[1]
        if isinstance(x, str) and attr == "shape":
            return (BATCH,) + tuple(self.shape_of(x)[1:])
        self.fail(node, f"getattr {attr!r}")

    def _getitem(self, node):
        x, idx = self.value(node, node.args[0]), node.args[1]
        if isinstance(x, tuple):
            return x[idx]
        self.fail(node, f"indexing a tensor with {idx!r}")

    def _size_arith(self, node):
        a, b = (self.value(node, v) for v in node.args[:2])
        if isinstance(a, int) and isinstance(b, int):
            return node.target(a, b)
        self.fail(node, f"arithmetic {node.target.__name__} on tensors or the batch size")

    def call_function(self, node):
        if self._table is None:
            self._table = self._functions()
        fn = self._table.get(node.target)
        if fn is None:
            self.fail(node, f"unsupported function {_target_name(node.target)}")
        return fn(node)

    def call_method(self, node):
        m = node.target
        if m == "size":
            dims = (BATCH,) + tuple(self.shape_of(self.tensor(node, node.args[0]))[1:])
            d = _arg(node, 1, "dim")
            return dims if d is None else dims[d]
        x = self.tensor(node, node.args[0])
        if m in ("relu", "relu_"):
            return self.clamp(node, x, 0.0, None)
        if m in ("add", "add_", "__add__", "__iadd__"):
            return self.add(node)
        if m in ("view", "reshape"):
            return self.reshape(node, x, tuple(self.value(node, node.args[1:])))
        if m == "flatten":
            return self.flatten(node, x, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        if m == "mean":
            return self.mean(node, x, _arg(node, 1, "dim"), _arg(node, 2, "keepdim", False))
        if m in ("contiguous",):
            return x
        self.fail(node, f"unsupported tensor method .{m}()")

    def run(self) -> Graph:
        out = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if "x" in self.gb.values:
                    self.fail(node, "a second model input (only one image input is supported)")
                self.env[node] = self.gb.input("x", self.shape, F32)
            elif node.op in ("call_module", "call_function", "call_method"):
                self.env[node] = getattr(self, node.op)(node)
            elif node.op == "output":
                out = self.value(node, node.args[0])
                if not isinstance(out, str):
                    self.fail(node, f"model output {out!r} (only a single tensor, the logits)")
            else:  # get_attr: a parameter or buffer used directly in forward()
                self.fail(node, f"direct use of the parameter/buffer '{node.target}' in forward()")
        return self.gb.build([out])


def from_torch(module, example_input_shape=(1, 1, 8, 8)) -> Graph:
    """Convert an nn.Module (eval-mode semantics) to a float Graph with input %x [1,C,H,W]."""
    import torch.fx

    shape = tuple(int(d) for d in example_input_shape)
    if len(shape) != 4:
        raise ValueError(f"from_torch: example_input_shape must be (1, C, H, W), got {shape}")
    shape = (1,) + shape[1:]
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...)
        raise UnsupportedTorchOp(f"from_torch: torch.fx cannot trace {type(module).__name__}: "
                                 f"{type(e).__name__}: {e}") from e
    return _Converter(gm, shape).run()


TORCH_INPUT_Q_SCALE = 1.0 / 255.0  # PyTorch models take pixel / 255 in [0, 1]
TORCH_INPUT_Q_ZERO = -128  # so the int8 input is pixel - 128


def load_torch_factory(spec: str, data_x=None, input_shape=None, max_calib: int = 256) -> Graph:
    """`path/to/file.py:factory` -> int8 graph. The factory returns an nn.Module whose input
    is an image scaled to [0, 1] (pixel / 255); data_x (uint8 N x H x W x C) calibrates the
    activation ranges. input_shape (C, H, W) defaults to the module's `input_shape`.

    A wrong spec or path raises UsageError; a file that does not import, a factory that
    fails or returns something else, a model that cannot be traced or calibrated raise
    InputError naming the file and factory; a missing torch raises MissingDependency."""
    from ..data.arrays import check_images
    from ..data.datasets import fit_channels, resize_bilinear
    from ..ir.dtype import QParams
    from ..quant.quantize import quantize_model

    module = _factory_module(spec)
    shape = _input_shape(spec, module, input_shape)
    if data_x is None:
        raise UsageError(f"model {spec}: a PyTorch model needs calibration images (--data) "
                         "for int8 quantization")
    x = check_images(np.asarray(data_x), "calibration images")[:max_calib]
    c, h, w = shape
    try:
        x = fit_channels(resize_bilinear(x[..., None] if x.ndim == 3 else x, h, w), c)
        samples = (x.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
        g = from_torch(module, (1,) + shape)
        return quantize_model(g, samples, QParams.tensor(TORCH_INPUT_Q_SCALE, TORCH_INPUT_Q_ZERO))
    except McuError as e:
        raise type(e)(f"model {spec}: {one_line(e, 300)}") from None
    except Exception as e:  # the user's forward() ran on the shape: any failure is the model's
        raise InputError(f"model {spec}: cannot convert it for input C,H,W = "
                         f"{','.join(map(str, shape))}: {type(e).__name__}: "
                         f"{one_line(e)}") from None


def _factory_module(spec: str):
    """Import the file, call the factory, check it gave an nn.Module (in eval mode)."""
    import importlib.util
    from pathlib import Path

    path, _, name = str(spec).rpartition(":")
    if not path or not name.isidentifier():
        raise UsageError(f"model {spec!r}: expected path/to/file.py:factory")
    if not Path(path).is_file():
        what = "is a folder" if Path(path).is_dir() else "no such file"
        raise UsageError(f"model file {path}: {what}")
    try:
        import torch
    except ImportError:
        raise MissingDependency(f"model {spec}: a PyTorch model needs torch "
                                "(pip install 'mcutrain[torch]')") from None
    mod_spec = importlib.util.spec_from_file_location(f"mcutrain_user_{Path(path).stem}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise InputError(f"model file {path}: cannot be imported as Python")
    mod = importlib.util.module_from_spec(mod_spec)
    try:  # the user's code: SystemExit too (a script's sys.exit() must not end mcutrain)
        mod_spec.loader.exec_module(mod)
    except SyntaxError as e:
        raise InputError(f"model file {path}: syntax error at line {e.lineno}: {e.msg}") from None
    except (Exception, SystemExit) as e:
        raise InputError(f"model file {path}: importing it failed: {type(e).__name__}: "
                         f"{one_line(e)}") from None
    factory = getattr(mod, name, None)
    if not callable(factory):
        have = [k for k, v in vars(mod).items() if callable(v) and not k.startswith("_")
                and getattr(v, "__module__", None) == mod.__name__]
        raise InputError(f"model file {path} has no function {name!r} "
                         f"(it defines {', '.join(have[:6]) or 'none'})")
    try:
        module = factory()
    except (Exception, SystemExit) as e:
        raise InputError(f"model {spec}: the factory raised {type(e).__name__}: "
                         f"{one_line(e)}") from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"model {spec}: the factory returned {type(module).__name__}, not a "
                         "torch.nn.Module")
    module.eval()
    return module


def _input_shape(spec: str, module, input_shape) -> tuple:
    """(C, H, W) from --input-shape, else the module's `input_shape`: three ints >= 1."""
    given = input_shape if input_shape is not None else getattr(module, "input_shape", None)
    if given is None:
        raise UsageError(f"model {spec}: give its input shape as C,H,W (--input-shape), or an "
                         "`input_shape` attribute on the module")
    try:
        shape = tuple(given)
        ok = len(shape) == 3 and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 1 <= d <= 1 << 16
            for d in shape)
    except TypeError:
        ok = False
    if not ok:
        err = UsageError if input_shape is not None else InputError
        src = "--input-shape" if input_shape is not None else "its input_shape attribute"
        raise err(f"model {spec}: {src} must be three integers C,H,W in 1..65536, got "
                  f"{one_line(repr(given), 60)}")
    return tuple(int(d) for d in shape)
