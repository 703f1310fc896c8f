"""The unrolled LSTM (crnn.core.lstm) against torch.nn.LSTM with the same weights."""

import pytest
import torch
from torch import nn

from crnn.core.lstm import LSTMStates, lstm_states, unroll


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
