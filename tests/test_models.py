"""The model registry and the SERModel contract, on short synthetic clips."""

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import crnn.core.models
from crnn.bench.training import training_throughput
from crnn.core.audio import MIN_SECONDS, SAMPLE_RATE
from crnn.core.errors import CrnnError
from crnn.core.models import MODULE_NAMES, REGISTRY, build_model, concordance_loss, list_models
from crnn.core.lstm import lstm_states
from crnn.core.models.cldnn import FILTERS, PatchConv
from crnn.core.models.cnn_lstm import LFLB
from crnn.core.models.conv_rnn import ConvRecurrent
from crnn.core.models.pooled_conv import max_pool1d, pooled_conv1d
from crnn.core.models.raw_crnn import concordance_correlation, fft_conv1d

PAPER_001 = [
    "ldnn_mfcc", "ldnn_logmel", "t_cldnn_mfcc", "fst_cldnn_mfcc",
    "t_cldnn_logmel", "s_cldnn_logmel", "st_cldnn_logmel", "fst_cldnn_logmel",
]
FAMILIES = {"LDNN", "CLDNN", "raw-waveform CRNN", "convolutional RNN", "LSTM-CRNN", "CNN-LSTM", "convolutional baseline"}
N_CLASSES = 5


def clip(seconds: float, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A voiced-like synthetic clip: a 150-250 Hz harmonic tone with a syllable envelope, plus noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 150 + 100 * torch.rand(batch, 1, generator=g)
    tone = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t) ** 2
    return (0.1 * tone * envelope + 0.01 * torch.randn(batch, t.numel(), generator=g)).float()


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name, N_CLASSES).eval() for name in REGISTRY}


def test_list_models():
    rows = list_models()
    assert len(rows) >= 14
    names = [r["name"] for r in rows]
    assert set(PAPER_001) <= set(names)
    assert len(set(names)) == len(names)
    for row in rows:
        assert set(row) == {"name", "family", "paper", "input", "parameters", "summary"}
        assert row["family"] in FAMILIES
        assert row["input"] in ("waveform", "logmel", "mfcc")
        assert row["parameters"] > 10_000 and row["summary"]
    assert {r["family"] for r in rows} == FAMILIES


def test_unknown_model_is_a_user_error():
    with pytest.raises(CrnnError, match="Unknown model"):
        build_model("resnet", 4)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_forward_backward_reaches_the_waveform(name):
    torch.manual_seed(0)
    model = build_model(name, N_CLASSES).train()
    wave = clip(3.0, batch=2).requires_grad_(True)
    logits = model(wave)
    assert logits.shape == (2, N_CLASSES)
    logits[:, 0].sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all()
    assert wave.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_module_outputs_contract(name, models):
    model = models[name]
    wave = clip(2.0, batch=2, seed=1)
    with torch.no_grad():
        outputs = model.module_outputs(wave)
        logits = model(wave)
        again = model(wave)
    expected = [m for m in MODULE_NAMES if not (m == "cnn" and REGISTRY[name].family == "LDNN")]
    assert list(outputs) == expected
    assert model.feature_kind == REGISTRY[name].input_kind
    x = outputs["input"]
    n_feat = {"waveform": 160, "logmel": 40, "mfcc": 13}[model.feature_kind]
    assert x.shape[0] == 2 and x.shape[2] == n_feat and 190 <= x.shape[1] <= 200  # 10 ms grid
    for key in ("cnn", "rnn"):
        if key in outputs:
            assert outputs[key].dim() == 3 and outputs[key].shape[0] == 2 and outputs[key].shape[1] >= 1
    assert outputs["mlp"].dim() == 2 and outputs["mlp"].shape[0] == 2
    assert outputs["logits"].shape == (2, N_CLASSES)
    torch.testing.assert_close(outputs["logits"], logits, rtol=0, atol=0)
    torch.testing.assert_close(again, logits, rtol=0, atol=0)  # eval mode is deterministic


@pytest.mark.parametrize("name", list(REGISTRY))
def test_lstm_states(name, models):
    model = models[name]
    wave = clip(1.0, batch=2, seed=2)
    with torch.no_grad():
        rnn = model.module_outputs(wave)["rnn"]
    states = model.lstm_states(wave)
    assert states, "every model has at least one recurrent layer along the utterance"
    for key, st in states.items():
        B, T, D, H = st.c.shape
        assert B == 2 and D in (1, 2) and T >= 1
        assert st.h.shape[:3] == (B, T, D)
        for gate in st.gates.values():
            assert gate.shape == st.c.shape
        assert st.frame_rate == pytest.approx(T / 1.0)
    last = max(k for k in states if k.startswith("rnn.layer"))
    torch.testing.assert_close(states[last].h.flatten(2), rnn, atol=1e-5, rtol=0)


def test_config_rebuilds_the_model(models):
    for name, model in models.items():
        config = json.loads(json.dumps(model.config))  # as stored in a checkpoint card
        rebuilt = build_model(name, N_CLASSES, **config)
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
        assert rebuilt.config == config


def test_shortest_clip_runs_everywhere(models):
    wave = clip(MIN_SECONDS, seed=3)
    with torch.no_grad():
        for name, model in models.items():
            assert torch.isfinite(model(wave)).all(), name


@pytest.mark.parametrize("conv, n_features", [(c, 40) for c in FILTERS] + [("T", 13), ("FST", 13)])
def test_patch_conv_equals_per_patch_convolution(conv, n_features):
    torch.manual_seed(0)
    layer = PatchConv(conv, n_features)
    x = torch.randn(2, 23, n_features)
    with torch.no_grad():
        reference = layer.per_patch(x)  # (B, T, D)
        torch.testing.assert_close(layer(x), reference, atol=1e-5, rtol=0)
        torch.testing.assert_close(layer(x, frame_stride=3), reference[:, ::3], atol=1e-5, rtol=0)
    assert reference.shape[2] == layer.out_dim


def test_mfcc_cldnn_rejects_spectral_convolution():
    with pytest.raises(ValueError):
        build_model("s_cldnn_logmel", 4, features="mfcc")


def test_clstm_window_feature_is_an_lstm_run_on_each_window():
    torch.manual_seed(0)
    layer = ConvRecurrent(6, hidden=4, window=5, shift=2, pool=1, pool_shift=1, feature="last", state="h")
    lstm = nn.LSTM(6, 4, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(layer.weight_ih[0])
        lstm.weight_hh_l0.copy_(layer.weight_hh[0])
        lstm.bias_ih_l0.copy_(layer.bias[0])
        lstm.bias_hh_l0.zero_()
        x = torch.randn(2, 13, 6)
        feats = layer(x)  # (2, 5, 4): windows at frames 0, 2, 4, 6, 8
        for w in range(5):
            out, _ = lstm(x[:, 2 * w : 2 * w + 5])
            torch.testing.assert_close(feats[:, w], out[:, -1], atol=1e-5, rtol=0)


def test_extended_clstm_with_tied_position_weights_is_a_clstm():
    torch.manual_seed(0)
    plain = ConvRecurrent(6, hidden=4, bidirectional=True, feature="max")
    extended = ConvRecurrent(6, hidden=4, bidirectional=True, feature="max", extended=True)
    assert extended.weight_ih.shape == (2, 5, 16, 6)
    with torch.no_grad():
        extended.weight_ih.copy_(plain.weight_ih[:, None].expand_as(extended.weight_ih))
        extended.weight_hh.copy_(plain.weight_hh)
        extended.bias.copy_(plain.bias)
        x = torch.randn(2, 20, 6)
        torch.testing.assert_close(extended(x), plain(x))
        extended.weight_ih[:, 0].add_(0.5)  # a position-specific change alters the features
        assert not torch.allclose(extended(x), plain(x))


def test_patch_states_are_cells_per_patch(models):
    model = models["lstm_crnn"]
    wave = clip(1.0, seed=4)
    with torch.no_grad():
        cnn = model.module_outputs(wave)["cnn"]
    st = model.lstm_states(wave)["patch_lstm.layer0"]
    B, T, D, PH = st.h.shape
    P, H = model.n_patches, PH // model.n_patches
    h = st.h.reshape(B, T, P, H)[:, :, : P // 3 * 3].reshape(B, T, P // 3, 3, H)
    torch.testing.assert_close(h.amax(dim=3).flatten(2), cnn, atol=1e-5, rtol=0)


def test_concordance_loss():
    x = torch.tensor([1.0, 2.0, 3.0, 5.0])
    assert concordance_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    # ρc = 2 cov / (var_x + var_y + (μx − μy)²) with population moments
    pred, target = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])
    assert concordance_correlation(pred, target).item() == pytest.approx((8 / 3) / (2 / 3 + 8 / 3 + 4))
    assert concordance_loss(torch.tensor([1.0, -1.0]), torch.tensor([-1.0, 1.0])).item() == pytest.approx(2.0)
    # columns (arousal, valence) are averaged; a shift alone costs concordance but not correlation
    both = concordance_loss(torch.stack([x, x + 1], 1), torch.stack([x, x], 1))
    assert both.item() == pytest.approx((0 + (1 - concordance_correlation(x + 1, x).item())) / 2)
    assert 0 < concordance_correlation(x + 1, x).item() < 1


def test_raw_crnn_regression_head_trains_with_concordance():
    torch.manual_seed(0)
    model = build_model("raw_crnn", N_CLASSES, regression=True)
    outputs = model.module_outputs(clip(1.0, batch=4, seed=5))
    assert list(outputs) == [*MODULE_NAMES, "arousal_valence"]
    assert outputs["arousal_valence"].shape == (4, 2)
    loss = concordance_loss(outputs["arousal_valence"], torch.rand(4, 2))
    loss.backward()
    assert model.regressor.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name, shape, kind", [
    ("s_cldnn_logmel", (32, 8, 1), "spectral"),
    ("fst_cldnn_logmel", (32, 40, 5), "full-spectrum"),
    ("t_cldnn_mfcc", (32, 1, 5), "temporal"),
    ("cnn_lstm_2d", (64, 3, 3), "spectro-temporal"),
    ("raw_crnn", (40, 80), "waveform"),
    ("cnn_lstm_1d", (64, 3), "waveform"),
])  # fmt: skip
def test_first_layer_filters_name_their_axes(name, shape, kind, models):
    model = models[name]
    filters = model.first_layer_filters()
    assert filters["weights"].shape == shape and filters["weights"].dtype == "float32"
    assert filters["kind"] == kind and str(shape[0]) in filters["description"]
    conv = model.get_submodule(filters["layer"])
    captured = []
    handle = conv.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    wave = clip(0.5)
    with torch.no_grad():
        features = model.module_outputs(wave)["input"]  # (B, T, F)
    handle.remove()
    seen = captured[0]  # what the first conv convolves: (B, 1, F, T) or (B, 1, N)
    if filters["axes"] == ("frequency", "time"):
        # The declared frequency axis is the one the conv slides along the feature bins.
        torch.testing.assert_close(seen[0, 0, :, -1], features[0, -1])
        assert filters["time_step_s"] == pytest.approx(0.01)
    else:
        assert filters["axes"] == ("time",) and seen.shape[-1] >= wave.shape[-1]
        assert filters["time_step_s"] == pytest.approx(1 / SAMPLE_RATE)
    np.testing.assert_array_equal(filters["weights"], conv.weight.detach()[:, 0].numpy())


@pytest.mark.parametrize("name", ["ldnn_mfcc", "clstm", "lstm_crnn"])
def test_models_whose_first_layer_is_recurrent_have_no_filters(name, models):
    assert models[name].first_layer_filters() is None


def test_specs_carry_norm_recipe_and_deviations():
    from crnn.analysis.recipes import Recipe

    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    for name, spec in REGISTRY.items():
        assert spec.norm in ("utterance", "global", "speaker"), name
        assert set(spec.recipe) <= recipe_fields, name
        assert spec.deviations and all(isinstance(d, str) and d for d in spec.deviations), name
        assert list(spec.deviations) == build_model(name, N_CLASSES).deviations()
    assert REGISTRY["clstm"].norm == "speaker" and REGISTRY["ldnn_logmel"].norm == "global"
    assert REGISTRY["raw_crnn"].recipe == {"optimizer": "adam", "lr": 2e-3, "batch_size": 50}
    assert any("concatenated" in d for d in build_model("cblstm", 4, from_card=True, bidirectional=True).deviations())
    assert not any("concatenated" in d for d in REGISTRY["cblstm"].deviations)
    assert not any(hasattr(crnn.core.models, f"PAPER_00{k}") for k in range(5))  # the unused constants are gone


@pytest.mark.parametrize("name, old, new", [
    ("raw_crnn", {"input_norm": False, "conv_dropout": 0.0, "dropout": 0.2},
     {"input_norm": True, "conv_dropout": 0.5, "dropout": 0.5}),
    ("cblstm", {"combine": "concat", "conv_layers": 2, "feature": "last"},
     {"combine": "linear", "conv_layers": 1, "feature": "max"}),
])  # fmt: skip
def test_from_card_uses_class_defaults_new_trainings_the_variant(name, old, new):
    card_kwargs = {"bidirectional": True} if name == "cblstm" else {}
    before = build_model(name, 4, from_card=True, **card_kwargs)  # an old card lacks the new arguments
    after = build_model(name, 4)
    assert {k: before.config[k] for k in old} == old
    assert {k: after.config[k] for k in new} == new
    rebuilt = build_model(name, 4, from_card=True, **json.loads(json.dumps(after.config)))
    assert rebuilt.config == after.config  # a new card rebuilds the new model


def _old_raw_crnn_logits(model, wave):
    """The first raw_crnn checkpoint's forward pass, written out with plain torch ops."""
    x = model.frontend(wave)
    pads = model.conv1.pads
    y = F.conv1d(F.pad(x.unsqueeze(1), pads), model.conv1.weight, model.conv1.bias)
    y = F.relu(F.max_pool1d(y, 2 * model.envelope_pool, ceil_mode=True))
    L = y.shape[-1]
    y = model.conv2(y)[..., :L]
    y = F.max_pool1d(y.transpose(1, 2), model.channel_pool)
    T = L // model.frame_len
    rnn, _ = model.rnn(y[:, : T * model.frame_len].reshape(wave.shape[0], T, -1))
    return model.out(model.mlp(rnn.mean(dim=1)))


def test_raw_crnn_with_new_flags_off_is_the_old_model():
    torch.manual_seed(0)
    model = build_model("raw_crnn", N_CLASSES, from_card=True).eval()
    wave = clip(2.0, batch=2, seed=6)
    with torch.no_grad():
        torch.testing.assert_close(model(wave), _old_raw_crnn_logits(model, wave), atol=1e-5, rtol=1e-5)
    assert model.filter_norm is None and model.step_norm is None and model.conv_dropout is None
    assert not any("norm" in k for k in model.state_dict())


def test_raw_crnn_blstm_input_is_normalised():
    torch.manual_seed(0)
    wave = clip(3.0, batch=6, seed=7)
    for gain in (1.0, 50.0):  # a trained first checkpoint's conv outputs grew to mean ~63: emulate with a gain
        old = build_model("raw_crnn", N_CLASSES, from_card=True).train()
        new = build_model("raw_crnn", N_CLASSES, conv_dropout=0.0).train()
        for model in (old, new):
            with torch.no_grad():
                model.conv2.weight.mul_(gain)
        with torch.no_grad():
            cnn_old, cnn_new = old.module_outputs(wave)["cnn"], new.module_outputs(wave)["cnn"]
            gates = lstm_states(new.rnn, cnn_new)[0]
        assert abs(cnn_new.mean().item()) < 0.05 and abs(cnn_new.std().item() - 1) < 0.05
        saturated = ((gates.i > 0.99) | (gates.i < 0.01) | (gates.f > 0.99) | (gates.f < 0.01)).float().mean()
        assert saturated < 0.05
    assert cnn_old.mean() > 20  # without the normalisation the BLSTM input scales with the filters


@pytest.mark.parametrize("n, taps, pool, pads, ceil", [
    (4001, 3, 4, (1, 1), False), (4003, 80, 80, (39, 40), True), (4000, 80, 80, (39, 40), True), (801, 5, 10, (0, 0), True),
])  # fmt: skip
def test_pooled_conv_equals_conv_then_max_pool(n, taps, pool, pads, ceil):
    torch.manual_seed(0)
    x = torch.randn(3, n)
    x[1, : n // 2] = 0  # digital silence: ties, where max_pool1d takes the first maximum
    x = x.requires_grad_(True)
    w = (torch.randn(7, 1, taps) / taps**0.5).requires_grad_(True)
    b = torch.randn(7, requires_grad=True)
    ref = F.max_pool1d(F.conv1d(F.pad(x[:, None], pads), w, b), pool, ceil_mode=ceil)
    got = pooled_conv1d(x, w, b, pool, pads, ceil)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    g = torch.randn_like(ref)
    expected = torch.autograd.grad((ref * g).sum(), (x, w, b))
    for a, c in zip(expected, torch.autograd.grad((got * g).sum(), (x, w, b))):
        torch.testing.assert_close(c, a, atol=1e-4, rtol=1e-5)
    weights_only = pooled_conv1d(x.detach(), w, b, pool, pads, ceil)  # the training case: no wave gradient
    for a, c in zip(expected[1:], torch.autograd.grad((weights_only * g).sum(), (w, b))):
        torch.testing.assert_close(c, a, atol=1e-4, rtol=1e-5)


def test_mask_max_pool_and_fft_conv_equal_the_torch_ops():
    torch.manual_seed(0)
    x = torch.relu(torch.randn(2, 5, 43)).requires_grad_(True)  # ReLU zeros: ties
    ref, got = F.max_pool1d(x, 4), max_pool1d(x, 4)
    torch.testing.assert_close(got, ref, atol=0, rtol=0)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad((got * g).sum(), x)[0], torch.autograd.grad((ref * g).sum(), x)[0])
    x, w, b = torch.randn(2, 3, 300), torch.randn(4, 3, 100), torch.randn(4)
    torch.testing.assert_close(fft_conv1d(x, w, b, 50), F.conv1d(x, w, b, padding=50), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_single_channel_lflb_is_conv_bn_pool_elu(mode):
    torch.manual_seed(0)
    block = LFLB(1, 16, 4, dims=1)
    with torch.no_grad():
        block.bn.weight.uniform_(-1, 1)  # negative scales turn the max into a min
        block.bn.bias.uniform_(-1, 1)
        block.bn.running_mean.uniform_(-0.1, 0.1)
        block.bn.running_var.uniform_(0.5, 2)
    reference = copy.deepcopy(block)
    getattr(block, mode)()
    getattr(reference, mode)()
    x = (0.3 * torch.randn(3, 1, 4003)).requires_grad_(True)
    conv = F.conv1d(x, reference.conv.weight, reference.conv.bias, padding=1)
    expected = F.elu(F.max_pool1d(reference.bn(conv), 4))
    got = block(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(got)
    names = ["x", *(name for name, _ in block.named_parameters())]
    grads = torch.autograd.grad((got * g).sum(), [x, *block.parameters()])
    ref_grads = torch.autograd.grad((expected * g).sum(), [x, *reference.parameters()])
    for name, a, c in zip(names, ref_grads, grads):
        # In training, BatchNorm cancels the conv bias: its gradient is 0 up to the reference's rounding.
        tolerance = 1e-3 if (name == "conv.bias" and mode == "train") else 1e-5
        torch.testing.assert_close(c, a, atol=tolerance, rtol=1e-4)
    for key, value in reference.state_dict().items():  # running statistics updated alike
        torch.testing.assert_close(block.state_dict()[key], value, atol=1e-6, rtol=1e-5)


def test_training_throughput_measures_every_named_model():
    rates = training_throughput(["ldnn_mfcc", "cnn_lstm_1d"], seconds=0.5, batch=2, steps=1)
    assert set(rates) == {"ldnn_mfcc", "cnn_lstm_1d"} and all(r > 0 for r in rates.values())


def test_plain_conv_is_clstm_with_standard_convolutions():
    """Paper 000's baseline: the CLSTM's windows, features and pooling, an affine map + ReLU per window, no LSTM there."""
    clstm, plain = build_model("clstm", N_CLASSES).eval(), build_model("plain_conv", N_CLASSES).eval()
    wave = torch.randn(2, 24000) * 0.1
    a, b = clstm.module_outputs(wave), plain.module_outputs(wave)
    assert a["cnn"].shape == b["cnn"].shape == (2, a["cnn"].shape[1], 100)
    assert list(plain.recurrent_layers()) == ["rnn"] and "conv0" in clstm.recurrent_layers()
    # A window's feature is the ReLU of one affine map of its 5 frames, max-pooled over 2 windows.
    x = plain.frontend(wave)  # (B, T, 40)
    conv = plain.conv0.conv
    w0 = torch.relu(torch.einsum("bfr,hfr->bh", x[:, 0:5].transpose(1, 2), conv.weight) + conv.bias)
    w1 = torch.relu(torch.einsum("bfr,hfr->bh", x[:, 2:7].transpose(1, 2), conv.weight) + conv.bias)
    torch.testing.assert_close(plain.conv0(x)[:, 0], torch.maximum(w0, w1), rtol=1e-5, atol=1e-5)


def test_cldnn_conv_norm_standardises_the_blstm_input_and_survives_a_checkpoint(tmp_path):
    from crnn.core.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    wave = clip(2.0, batch=4, seed=8)
    plain = build_model("st_cldnn_logmel", N_CLASSES).train()
    normed = build_model("st_cldnn_logmel", N_CLASSES, conv_norm=True).train()
    with torch.no_grad():
        raw, cnn = plain.module_outputs(wave)["cnn"], normed.module_outputs(wave)["cnn"]
    assert raw.min() >= 0 and raw.std() < 0.5  # ReLU and max pooling: positive and small, what the BLSTM got
    per_dim = cnn.flatten(0, 1)  # (B·T, D), each dimension over batch and frames
    assert per_dim.mean(0).abs().max() < 1e-4 and (per_dim.std(0) - 1).abs().median() < 0.01
    assert plain.conv_norm is None and not any("conv_norm" in k for k in plain.state_dict())
    assert any("batch-normalised" in d for d in type(normed).deviations_for(normed.config))
    normed.eval()
    card = {"model": "st_cldnn_logmel", "model_kwargs": normed.config, "labels": [f"c{k}" for k in range(N_CLASSES)]}
    loaded, _ = load_checkpoint(save_checkpoint(normed, card, tmp_path / "normed"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(wave), normed(wave))  # running statistics travel with the weights


def test_model_settings_take_the_defaults_types_and_refuse_the_rest():
    from crnn.core.models import model_settings

    assert model_settings("st_cldnn_logmel", ["conv_norm=1", "dropout=0.3", "frame_stride=2"]) == {
        "conv_norm": True, "dropout": 0.3, "frame_stride": 2}
    assert model_settings("st_cldnn_logmel", None) == {}
    for bad, message in (("conv_nrm=1", "no setting 'conv_nrm'"), ("conv=T", "no setting 'conv'"),
                         ("conv_norm=maybe", "cannot be 'maybe'"), ("frame_stride=two", "cannot be 'two'"),
                         ("dropout=nan", "cannot be 'nan'"), ("dropout=2", "dropout probability has to be between"),
                         ("hidden=0", "hidden_size must be greater than zero"),  # these were tracebacks
                         ("hidden=20000", "has 3,236,179,208 parameters, more than 50,000,000")):  # refused, not allocated
        with pytest.raises(CrnnError, match=message):
            model_settings("st_cldnn_logmel", [bad])
