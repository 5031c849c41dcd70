"""Module: registration, naming, containers, train/eval, zero_grad, repr, parameter counts, layers, Dropout."""
import copy
import math

import numpy as np
import pytest

import nn
from tinygrad_np import Tensor, no_grad


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(Tensor.ones(4))
        self.not_a_param = Tensor.ones(2, requires_grad=True)  # a plain Tensor is not registered (as in torch)
        self.register_buffer("running", Tensor.zeros(4))
        self.register_buffer("scratch", Tensor.zeros(1), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block(), Block()]  # a plain list of modules is registered (as a ModuleList)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))
        self.gains = (nn.Parameter(Tensor.ones(1)), nn.Parameter(Tensor.ones(1)))

    def forward(self, x):
        for b in self.blocks:
            x = b(x) if x.shape[-1] == 3 else x
        return self.head(x) * self.gains[0]


def test_parameters_registered_and_named_with_dots():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "blocks.0.scale", "blocks.0.fc.weight", "blocks.0.fc.bias",
        "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias",
        "head.1.weight", "head.1.bias", "gains.0", "gains.1",
    ]  # a module's own parameters first, then its submodules' (PyTorch's order)
    assert isinstance(net.blocks, nn.ModuleList) and isinstance(net.gains, nn.ParameterList)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_children()] == ["blocks", "head", "gains"]
    assert [n for n, _ in net.named_modules()] == [
        "", "blocks", "blocks.0", "blocks.0.fc", "blocks.1", "blocks.1.fc", "head", "head.0", "head.1", "gains"]
    assert [n for n, _ in net.named_buffers()] == ["blocks.0.running", "blocks.0.scratch", "blocks.1.running",
                                                   "blocks.1.scratch"]
    assert list(net.parameters(recurse=False)) == []
    assert net.head[1].weight is dict(net.named_parameters())["head.1.weight"]


def test_registration_order_follows_assignment():
    m = nn.Module()
    m.b = nn.Linear(1, 1)
    m.a = nn.Linear(1, 1)
    m.z = nn.Parameter(Tensor.zeros(1))
    m.y = nn.Parameter(Tensor.zeros(1))
    assert [n for n, _ in m.named_parameters()] == ["z", "y", "b.weight", "b.bias", "a.weight", "a.bias"]


def test_shared_parameters_counted_once_and_reassignment():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2 and seq.num_parameters() == 6
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight  # weight tying: one parameter in two layers
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert tied.num_parameters() == 9 + 3 + 3
    m = nn.Module()
    m.w = nn.Parameter(Tensor.zeros(3))
    m.w = nn.Parameter(Tensor.zeros(5))  # replacing keeps one entry
    assert [p.shape for p in m.parameters()] == [(5,)]
    with pytest.raises(TypeError, match="w is a parameter"):
        m.w = Tensor.zeros(5)
    m.w = None
    assert list(m.parameters()) == []
    del m.w
    with pytest.raises(AttributeError, match="no attribute 'w'"):
        _ = m.w


def test_submodule_slot_rejects_non_module():
    m = nn.Module()
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="sub is a submodule"):
        m.sub = 5
    with pytest.raises(TypeError, match="mixing"):
        m.stuff = [nn.Linear(1, 1), "relu"]


def test_forgetting_super_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Bad()


def test_train_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head[0].training and net.blocks[0].training


def test_zero_grad_sets_none_on_module_and_optimizer():
    net = nn.MLP([3, 4, 2])
    x = Tensor(np.ones((2, 3), np.float32))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(x).sum().backward()
    opt = nn.optim.SGD(net.parameters(), lr=0.1)
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(x).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())


def test_repr_prints_the_layer_tree():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.2)\n"
        "  (4): Linear(in_features=128, out_features=10, bias=False)\n"
        ")"
    )
    assert repr(nn.MLP([4, 3, 2], activation=nn.Tanh)) == (
        "MLP(\n"
        "  layer_dims=[4, 3, 2]\n"
        "  (layers): ModuleList(\n"
        "    (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "    (1): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (activation): Tanh()\n"
        ")"
    )
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


def test_parameter_count_and_summary():
    model = nn.MLP([784, 128, 64, 10])
    assert model.num_parameters() == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10 == 109386
    model.layers[0].requires_grad_(False)
    assert model.num_parameters(trainable_only=True) == 109386 - 784 * 128 - 128
    text = model.summary()
    assert "layers.0.weight" in text and "128x784" in text and "100,352" in text
    assert text.splitlines()[-1].split() == ["total", "109,386"]


def test_parameter_is_a_leaf_tensor_sharing_data():
    arr = np.arange(3.0)
    p = nn.Parameter(arr)
    assert p.requires_grad and p.is_leaf and p.data is arr
    assert repr(p).startswith("Parameter containing:\nTensor(")
    y = p * 2  # ops on parameters give plain Tensors in the graph
    assert type(y) is Tensor and y.grad_fn is not None
    with pytest.raises(TypeError):
        nn.Parameter(np.arange(3))  # integers cannot require grad


def test_linear_layout_forward_and_errors():
    fc = nn.Linear(3, 2)
    assert fc.weight.shape == (2, 3) and fc.bias.shape == (2,)
    assert fc.weight.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(fc(Tensor(x)).data, x @ fc.weight.data.T + fc.bias.data, rtol=1e-6)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert fc(Tensor(x[0])).shape == (2,)  # unbatched input
    assert fc(Tensor(np.zeros((4, 5, 3), np.float32))).shape == (4, 5, 2)
    with pytest.raises(ValueError, match=r"Linear\(3, 2\).*\(5, 4\)"):
        fc(Tensor(np.zeros((5, 4), np.float32)))


def test_linear_default_init_is_pytorchs_and_seeded():
    Tensor.manual_seed(123)
    a = nn.Linear(400, 300)
    Tensor.manual_seed(123)
    b = nn.Linear(400, 300)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    bound = 1 / math.sqrt(400)
    for t in (a.weight.data, a.bias.data):
        assert np.abs(t).max() <= bound and np.abs(t).max() > 0.97 * bound
    assert abs(a.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(−b, b) has std b/√3
    assert abs(a.weight.data.mean()) < 0.01 * bound
    c = nn.Linear(400, 300)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_mlp_structure_and_forward():
    model = nn.MLP([5, 7, 6, 3], dropout=0.5)
    assert [n for n, _ in model.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"]
    model.eval()  # dropout off: the forward is the plain composition, ReLU between layers, none after the last
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    h = x
    for i, layer in enumerate(model.layers):
        h = h @ layer.weight.data.T + layer.bias.data
        if i < 2:
            h = np.maximum(h, 0)
    np.testing.assert_allclose(model(Tensor(x)).data, h, rtol=1e-5, atol=1e-6)
    assert (h < 0).any()  # the last layer really has no ReLU
    model.train()
    assert not np.allclose(model(Tensor(x)).data, h)  # dropout active in training
    custom = nn.MLP([2, 3, 1], activation=nn.LeakyReLU(0.3))
    assert isinstance(custom.activation, nn.LeakyReLU) and custom.activation.negative_slope == 0.3
    with pytest.raises(ValueError, match="layer_dims"):
        nn.MLP([5])


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and seq[-1] is seq[2]
    sub = seq[:2]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[0]
    x = Tensor(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(seq(x).data, seq[2](seq[1](seq[0](x))).data)
    named = nn.Sequential({"fc": nn.Linear(2, 2), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"] and named.fc is named[0]
    with pytest.raises(TypeError, match="Sequential: expected a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    ml = nn.ModuleList()
    ml.append(nn.Linear(1, 1)).extend([nn.Linear(1, 2)])
    ml[0] = nn.Linear(1, 3)
    assert [m.out_features for m in ml] == [3, 2] and len(ml) == 2
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_activation_modules_and_plumbing():
    x = Tensor(np.linspace(-2, 2, 12).reshape(2, 3, 2))
    np.testing.assert_array_equal(nn.ReLU()(x).data, x.relu().data)
    np.testing.assert_array_equal(nn.LeakyReLU(0.1)(x).data, x.leakyrelu(0.1).data)
    np.testing.assert_array_equal(nn.Sigmoid()(x).data, x.sigmoid().data)
    np.testing.assert_array_equal(nn.Tanh()(x).data, x.tanh().data)
    np.testing.assert_array_equal(nn.GELU()(x).data, x.gelu().data)
    np.testing.assert_array_equal(nn.Softmax(dim=1)(x).data, x.softmax(1).data)
    np.testing.assert_array_equal(nn.LogSoftmax(dim=-1)(x).data, x.log_softmax(-1).data)
    with pytest.warns(UserWarning, match="Implicit dimension"):  # no dim: PyTorch's choice (dim 0 of a 3-d x)
        np.testing.assert_array_equal(nn.LogSoftmax()(x).data, x.log_softmax(0).data)
    assert nn.Flatten()(x).shape == (2, 6) and nn.Flatten(0, 1)(x).shape == (6, 2)
    assert nn.Identity(54, unused="x")(x) is x


def test_dropout_statistics_scaling_and_eval():
    p = 0.3
    drop = nn.Dropout(p)
    x = Tensor(np.ones((400, 500), np.float32), requires_grad=True)
    y = drop(x)
    zero = y.data == 0
    assert abs(zero.mean() - p) < 0.005  # 200,000 draws: std of the fraction ≈ 0.001
    np.testing.assert_allclose(y.data[~zero], 1 / (1 - p), rtol=1e-6)  # inverted dropout scaling
    assert abs(y.data.mean() - 1) < 0.01  # mean preserved
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    y.backward(g)
    np.testing.assert_allclose(x.grad.data, np.where(zero, 0, g / (1 - p)), rtol=1e-6)  # same mask in backward
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).data.any()
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_dropout_reproducible_under_manual_seed():
    x = Tensor(np.ones((50, 50), np.float32))
    Tensor.manual_seed(7)
    a = nn.Dropout(0.5)(x).data
    Tensor.manual_seed(7)
    b = nn.Dropout(0.5)(x).data
    c = nn.Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_state_dict_contents_share_memory():
    net = Net()
    sd = net.state_dict()
    assert list(sd)[:4] == ["blocks.0.scale", "blocks.0.running", "blocks.0.fc.weight", "blocks.0.fc.bias"]
    assert "blocks.0.scratch" not in sd and "blocks.0.not_a_param" not in sd  # non-persistent / unregistered
    assert set(sd) == {n for n, _ in net.named_parameters()} | {"blocks.0.running", "blocks.1.running"}
    assert sd["head.1.weight"].data is net.head[1].weight.data
    assert not sd["head.1.weight"].requires_grad


def test_load_state_dict_copies_in_place():
    a, b = nn.MLP([3, 4, 2]), nn.MLP([3, 4, 2])
    w = b.layers[0].weight
    w_data = w.data
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.layers[0].weight is w and w.data is w_data  # the same objects, new values
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
        assert pa.data is not pb.data
    c = nn.MLP([3, 4, 2], dtype=np.float64)  # values are cast to the receiving parameters' dtype
    c.load_state_dict({k: v.data for k, v in a.state_dict().items()})
    assert c.layers[0].weight.dtype == np.float64
    np.testing.assert_array_equal(c.layers[0].weight.data, a.layers[0].weight.data)


def _snapshot(model):
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k])


def test_load_state_dict_errors_name_keys_and_shapes_and_change_nothing():
    model = nn.MLP([3, 4, 2])
    before = _snapshot(model)
    good = {k: v.data * 0 + 9 for k, v in model.state_dict().items()}

    missing = dict(good)
    del missing["layers.1.bias"]
    with pytest.raises(RuntimeError, match=r"missing key\(s\): 'layers.1.bias'"):
        model.load_state_dict(missing)
    _assert_unchanged(model, before)

    extra = dict(good, **{"layers.2.weight": np.zeros((1, 1))})
    with pytest.raises(RuntimeError, match=r"unexpected key\(s\): 'layers.2.weight'"):
        model.load_state_dict(extra)
    _assert_unchanged(model, before)

    wrong = dict(good, **{"layers.0.weight": np.zeros((4, 5))})
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(wrong)
    assert "'layers.0.weight'" in str(e.value) and "(4, 5)" in str(e.value) and "(4, 3)" in str(e.value)
    _assert_unchanged(model, before)

    # shape errors are raised even with strict=False; missing/unexpected keys are only reported
    with pytest.raises(RuntimeError, match="shape mismatch"):
        model.load_state_dict(wrong, strict=False)
    _assert_unchanged(model, before)
    result = model.load_state_dict(dict(missing, extra=np.zeros(1)), strict=False)
    assert result.missing_keys == ["layers.1.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.layers[0].weight.data, 9)
    np.testing.assert_array_equal(model.layers[1].bias.data, before["layers.1.bias"])


def test_freezing_and_apply_and_deepcopy():
    model = nn.MLP([2, 3, 1])
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    model.requires_grad_(True)
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "ModuleList", "ReLU", "MLP"]
    with no_grad():
        model.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not model.layers[0].weight.data.any()
    clone = copy.deepcopy(model)
    clone.layers[0].bias.data += 1
    assert not np.array_equal(clone.layers[0].bias.data, model.layers[0].bias.data)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_registered_attributes_stay_in_step_with_the_registries():
    # Parameters and submodules are mirrored in the instance dict (fast attribute reads in forward): every way of
    # changing them must keep both views the same.
    fc = nn.Linear(3, 2)
    new_w = nn.Parameter(Tensor.zeros(2, 3))
    fc.weight = new_w
    assert fc.weight is new_w and dict(fc.named_parameters())["weight"] is new_w
    fc.bias = None
    assert fc.bias is None and [n for n, _ in fc.named_parameters()] == ["weight"]
    fc.register_parameter("bias", nn.Parameter(Tensor.ones(2)))
    assert fc.bias is dict(fc.named_parameters())["bias"]
    del fc.bias
    with pytest.raises(AttributeError):
        fc.bias  # noqa: B018
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)])
    replacement = nn.Linear(2, 2)
    layers[1] = replacement
    assert layers[1] is replacement and getattr(layers, "1") is replacement
    names = [n for n, _ in layers.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert dict(layers.named_parameters())["1.weight"] is replacement.weight
