"""The unrolled LSTM (crnn.core.lstm) against torch.nn.LSTM with the same weights."""

import pytest
import torch
from torch import nn

from crnn.core.lstm import LSTM, LSTMStates, lstm_states, unroll, unroll_stacked
from crnn.core.models.conv_rnn import ConvRecurrent


@pytest.mark.parametrize(
    "bidirectional, num_layers, proj_size, batch_first, bias",
    [
        (False, 1, 0, True, True),
        (True, 1, 0, True, True),
        (True, 2, 0, True, True),
        (False, 2, 3, True, True),
        (True, 2, 3, False, True),
        (True, 1, 0, True, False),
    ],
)
def test_unrolled_lstm_matches_torch(bidirectional, num_layers, proj_size, batch_first, bias):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 6, num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size,
                   batch_first=batch_first, bias=bias)
    x = torch.randn(3, 11, 5) * 2
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x if batch_first else x.transpose(0, 1))
        layers = lstm_states(lstm, x if batch_first else x.transpose(0, 1), frame_rate=50.0)
    if not batch_first:
        out = out.transpose(0, 1)
    D = 2 if bidirectional else 1
    H, P = 6, proj_size or 6
    assert len(layers) == num_layers
    for k, st in enumerate(layers):
        assert isinstance(st, LSTMStates) and st.frame_rate == 50.0
        assert st.h.shape == (3, 11, D, P)
        for name in "cifgo":
            assert getattr(st, name).shape == (3, 11, D, H)
        # torch returns the final states only: forward ends at t = T-1, backward at t = 0
        torch.testing.assert_close(st.h[:, -1, 0], h_n[k * D], atol=1e-5, rtol=0)
        torch.testing.assert_close(st.c[:, -1, 0], c_n[k * D], atol=1e-5, rtol=0)
        if bidirectional:
            torch.testing.assert_close(st.h[:, 0, 1], h_n[k * D + 1], atol=1e-5, rtol=0)
            torch.testing.assert_close(st.c[:, 0, 1], c_n[k * D + 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(layers[-1].h.flatten(2), out, atol=1e-5, rtol=0)


def test_states_obey_the_lstm_equations():
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 3, batch_first=True)
    with torch.no_grad():
        (st,) = lstm_states(lstm, torch.randn(2, 9, 4))
    c_prev = torch.cat([torch.zeros_like(st.c[:, :1]), st.c[:, :-1]], dim=1)
    torch.testing.assert_close(st.c, st.f * c_prev + st.i * st.g)
    torch.testing.assert_close(st.h, st.o * torch.tanh(st.c))
    for gate in (st.i, st.f, st.o):
        assert gate.min() >= 0 and gate.max() <= 1
    assert set(st.gates) == {"i", "f", "g", "o"}


def test_unroll_reverse_keeps_input_time_order():
    torch.manual_seed(2)
    x_proj = torch.randn(2, 6, 8)
    w_hh = torch.randn(8, 2)
    fwd = unroll(x_proj.flip(1), w_hh)
    rev = unroll(x_proj, w_hh, reverse=True)
    for a, b in zip(fwd, rev):
        torch.testing.assert_close(a.flip(1), b)


@pytest.mark.parametrize(
    "bidirectional, num_layers, proj_size, batch_first, bias",
    [(False, 1, 3, True, True), (True, 2, 3, True, True), (True, 2, 2, False, True), (False, 1, 2, True, False),
     (True, 1, 0, True, True)],
)
def test_fused_projected_lstm_is_nn_lstm(bidirectional, num_layers, proj_size, batch_first, bias):
    """crnn.core.lstm.LSTM (LSTMP as a plain LSTM with W_hh W_hr) = nn.LSTM: outputs, final states, gradients."""
    torch.manual_seed(0)
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size, batch_first=batch_first, bias=bias)
    reference, fused = nn.LSTM(5, 6, **kwargs), LSTM(5, 6, **kwargs)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(3, 11, 5) if batch_first else torch.randn(11, 3, 5)
    out_r, (h_r, c_r) = reference(x)
    out_f, (h_f, c_f) = fused(x)
    for a, b in ((out_r, out_f), (h_r, h_f), (c_r, c_f)):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5)
    g = torch.randn_like(out_r)
    grads_r = torch.autograd.grad((out_r * g).sum() + h_r.sum() + c_r.sum(), list(reference.parameters()))
    grads_f = torch.autograd.grad((out_f * g).sum() + h_f.sum() + c_f.sum(), list(fused.parameters()))
    for a, b in zip(grads_r, grads_f):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    assert isinstance(fused, nn.LSTM) and len(lstm_states(fused, x if batch_first else x.transpose(0, 1))) == num_layers


def test_unroll_stacked_is_unroll_per_lstm():
    torch.manual_seed(3)
    x_proj, w_hh, bias = torch.randn(2, 3, 5, 16), torch.randn(2, 16, 4), torch.randn(2, 16)
    stacked = unroll_stacked(x_proj, w_hh, bias)
    for d in range(2):
        for a, b in zip(unroll(x_proj[d], w_hh[d], bias[d]), stacked):
            torch.testing.assert_close(b[d], a, atol=1e-6, rtol=1e-5)


def test_cblstm_combines_cell_states_linearly_eq9():
    torch.manual_seed(0)
    layer = ConvRecurrent(6, hidden=4, bidirectional=True, feature="max", combine="linear", pool=1, pool_shift=1)
    assert layer.out_dim == 4 and not layer.fused
    x = torch.randn(2, 11, 6)
    with torch.no_grad():
        feats = layer(x)  # (2, 4 windows, 4)
        for w in range(feats.shape[1]):
            win = x[:, 2 * w : 2 * w + 5]
            fwd = unroll(win @ layer.weight_ih[0].T, layer.weight_hh[0], layer.bias[0])[1]  # c: (2, 5, 4)
            bwd = unroll(win @ layer.weight_ih[1].T, layer.weight_hh[1], layer.bias[1], reverse=True)[1]
            y = layer.combiner(torch.cat([fwd, bwd], dim=-1))  # Eq. 9 at every frame
            torch.testing.assert_close(feats[:, w], y.amax(dim=1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional, feature, state", [
    (False, "last", "c"), (True, "last", "c"), (True, "max", "h"), (False, "mean", "h"), (True, "last", "h"),
])  # fmt: skip
def test_fused_window_features_equal_the_unrolled_ones(bidirectional, feature, state):
    torch.manual_seed(0)
    layer = ConvRecurrent(6, hidden=4, bidirectional=bidirectional, feature=feature, state=state)
    assert layer.fused
    x = torch.randn(2, 20, 6, requires_grad=True)
    fused = layer(x)
    layer.extended = True  # the unrolled path, with shared weights: same function
    weight = layer.weight_ih
    layer.weight_ih = nn.Parameter(weight[:, None].expand(-1, layer.window, -1, -1).clone())
    unrolled = layer(x)
    torch.testing.assert_close(fused, unrolled, atol=1e-5, rtol=0)
    g_fused = torch.autograd.grad(fused.sum(), x)[0]
    g_unrolled = torch.autograd.grad(unrolled.sum(), x)[0]
    torch.testing.assert_close(g_fused, g_unrolled, atol=1e-5, rtol=0)
