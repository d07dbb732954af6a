"""from_torch: torch models -> float Graph; the interpreter must agree with torch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from mcutrain.frontend.torch_fx import UnsupportedTorchOp, from_torch  # noqa: E402
from mcutrain.ir.printer import format_graph, parse_graph  # noqa: E402
from mcutrain.ops.verify import verify  # noqa: E402
from mcutrain.ref.interp import run  # noqa: E402


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def randomize_bn(model, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters (as after training)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


def check_matches(model, shape, n=4, seed=0):
    torch.manual_seed(seed)
    model = randomize_bn(model, seed)
    g = verify(from_torch(model, shape))
    x = torch.rand((n,) + tuple(shape[1:]), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model(x).numpy()
    out = run(g, {"x": x.numpy()})[g.outputs[0]]
    assert rel_err(out, ref) < 1e-5
    assert g["x"].shape == (1,) + tuple(shape[1:]) and g["x"].dtype == "f32"
    assert g[g.outputs[0]].shape == (1, ref.shape[1])
    assert g.meta == {"source": "torch"}
    return g


def conv_bn(cin, cout, k=3, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [conv_bn(cin, mid, 1)] if expand != 1 else []
        layers += [conv_bn(mid, mid, 3, stride, mid), conv_bn(mid, cout, 1, act=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2ish(nn.Module):
    def __init__(self, classes=7):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 8, 3, 2),
            InvertedResidual(8, 8, 1, 1),     # expand 1 (no 1x1 expand), residual
            InvertedResidual(8, 12, 2, 4),    # stride 2, no residual
            InvertedResidual(12, 12, 1, 4),   # residual
            InvertedResidual(12, 16, 1, 3),   # channel change, no residual
            conv_bn(16, 32, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU(), nn.MaxPool2d(2))
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Functional(nn.Module):
    """Ordinary forward code: F.relu, torch.relu, x + y, torch.add, hardtanh, view, reshape."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 6, (3, 1), padding=(1, 0), groups=2)
        self.c3 = nn.Conv2d(6, 6, 1)
        self.fc1 = nn.Linear(6 * 4 * 4, 12)
        self.fc2 = nn.Linear(12, 3, bias=False)

    def forward(self, x):
        y = F.relu(self.c1(x))
        z = torch.relu(self.c2(y))
        s = y + z
        s = torch.add(s, F.hardtanh(self.c3(s), 0.0, 6.0))
        s = F.max_pool2d(s, 2)
        s = F.relu6(s)
        h = F.relu(self.fc1(s.view(s.size(0), -1)))
        return self.fc2(h) + self.fc2(h.reshape(h.shape[0], -1))


def test_plain_cnn():
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.MaxPool2d(2, 2), nn.Conv2d(16, 16, 1, bias=False), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Identity(), nn.Linear(16, 10))
    g = check_matches(model, (1, 1, 8, 8))
    ops = [n.op for n in g.nodes]
    assert ops.count("conv2d") == 3 and ops.count("batch_norm") == 2
    assert "0.weight" in g.values and "1.running_var" in g.values
    assert np.all(g.consts["7.bias"] == 0)  # bias=False -> zero bias
    mp = next(n for n in g.nodes if n.op == "maxpool2d")
    assert mp.attrs == dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0))
    bn = next(n for n in g.nodes if n.op == "batch_norm")
    assert bn.inputs[1:] == ("1.weight", "1.bias", "1.running_mean", "1.running_var")
    assert bn.attrs == dict(eps=1e-5)
    relu6 = [n for n in g.nodes if n.op == "clamp" and n.attrs["hi"] == 6.0]
    assert len(relu6) == 1 and relu6[0].attrs["lo"] == 0.0


def test_mobilenetv2_inverted_residuals():
    g = check_matches(MobileNetV2ish(), (1, 3, 16, 16))
    ops = [n.op for n in g.nodes]
    assert ops.count("add") == 2
    dw = [n for n in g.nodes if n.op == "conv2d" and n.attrs["groups"] > 1]
    assert len(dw) == 4 and all(g[n.inputs[1]].shape[1] == 1 for n in dw)
    assert "features.2.conv.1.0.weight" in g.values  # readable module paths
    # the printed form parses back to the same text
    text = format_graph(g, full=True)
    assert format_graph(parse_graph(text, g.consts), full=True) == text


def test_resnet_basic_block():
    g = check_matches(ResNetish(), (1, 3, 8, 8))
    assert [n.op for n in g.nodes].count("add") == 2


def test_functional_forward_code():
    g = check_matches(Functional(), (1, 2, 8, 8))
    assert "fc2.weight" in g.values and [n.op for n in g.nodes].count("linear") == 3


def test_mean_without_keepdim_and_batch_shape():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(F.dropout(torch.relu(self.c(x)), 0.5, self.training).mean([-1, -2]))

    g = check_matches(M(), (5, 3, 6, 6))  # example batch 5: the graph is built for N = 1
    assert [n.op for n in g.nodes][-3:] == ["global_avgpool", "reshape", "linear"]


@pytest.mark.parametrize("module, what", [
    (nn.GELU(), "torch.nn.modules.activation.GELU"),
    (nn.Sigmoid(), "Sigmoid"),
    (nn.Upsample(scale_factor=2), "Upsample"),
])
def test_unsupported_module_names_it(module, what):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), module, nn.Flatten(), nn.Identity())
    with pytest.raises(UnsupportedTorchOp, match=what) as e:
        from_torch(model, (1, 1, 8, 8))
    assert "fx node '_1'" in str(e.value) and "unsupported module" in str(e.value)


def test_unsupported_lstm_and_function():
    class Sig(nn.Module):
        def forward(self, x):
            return torch.sigmoid(x).flatten(1)

    with pytest.raises(UnsupportedTorchOp, match=r"unsupported function .*sigmoid.*fx node 'sigmoid'"):
        from_torch(Sig(), (1, 1, 4, 4))

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 4)

        def forward(self, x):
            return self.rnn(x)

    with pytest.raises(UnsupportedTorchOp, match=r"unsupported module .*LSTM \('rnn'\) at fx node"):
        from_torch(Lstm(), (1, 1, 8, 8))


def test_unsupported_variants_are_explained():
    with pytest.raises(UnsupportedTorchOp, match="only output size 1"):
        from_torch(nn.Sequential(nn.AdaptiveAvgPool2d(2)), (1, 1, 8, 8))
    with pytest.raises(UnsupportedTorchOp, match="whole map"):
        from_torch(nn.Sequential(nn.AvgPool2d(2)), (1, 1, 8, 8))
    with pytest.raises(UnsupportedTorchOp, match="only flatten from dim 1"):
        from_torch(nn.Sequential(nn.Flatten(2)), (1, 1, 8, 8))
    with pytest.raises(UnsupportedTorchOp, match="hardtanh"):
        from_torch(nn.Sequential(nn.Hardtanh(-1.0, 1.0)), (1, 1, 8, 8))
    with pytest.raises(UnsupportedTorchOp, match="dilation"):
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)), (1, 1, 8, 8))

    class Scalar(nn.Module):
        def forward(self, x):
            return (x + 1.0).flatten(1)

    with pytest.raises(UnsupportedTorchOp, match="scalar"):
        from_torch(Scalar(), (1, 1, 4, 4))
