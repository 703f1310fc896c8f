"""An unrolled LSTM that exposes what ``torch.nn.LSTM`` hides: cell states and gates per time step.

``torch.nn.LSTM`` returns the hidden state of every step but only the final
cell state, and never the gates. The cell analyses of paper 002 (Sec. 4,
Fig. 2: cells that track loudness, F0 or RMS energy range) need all of
them, so :func:`lstm_states` re-runs an ``nn.LSTM`` step by step with the
same weights and returns, per layer and direction,

    i = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate
    f = σ(W_if x + b_if + W_hf h + b_hf)      forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)   cell candidate
    o = σ(W_io x + b_io + W_ho h + b_ho)      output gate
    c = f ⊙ c_prev + i ⊙ g
    h = W_hr (o ⊙ tanh(c))                    (W_hr only with ``proj_size`` > 0)

exactly torch's equations and gate order (i, f, g, o), so the recomputed
``h`` equals ``nn.LSTM``'s output to float precision. The unrolled loop is
for analysis only; training runs the fused kernels (:class:`LSTM` below
for the projected variant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from crnn.core.features import FRAME_RATE


@dataclass
class LSTMStates:
    """States of one LSTM layer over an utterance, each (B, T, D, H).

    D is the number of directions (1 or 2; index 1 is the backward LSTM, at
    the same time index as the input frame it read). ``h`` has H = proj_size
    when the LSTM projects its output. ``frame_rate`` is time steps per
    second (Hz), so step t is at t / frame_rate seconds.
    """

    h: Tensor
    c: Tensor
    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    frame_rate: float = FRAME_RATE

    @property
    def gates(self) -> dict[str, Tensor]:
        """The four gates by name (input, forget, cell candidate, output)."""
        return {"i": self.i, "f": self.f, "g": self.g, "o": self.o}


class LSTM(nn.LSTM):
    """``nn.LSTM`` whose projected variant (``proj_size`` > 0) runs on the fused CPU kernel.

    torch computes an LSTM with a recurrent projection (LSTMP) on CPU with a
    per-step loop of small matrix products, about 3× slower than the fused
    oneDNN kernel of a plain LSTM. But LSTMP is a plain LSTM in disguise:
    with the unprojected output m_t = o_t ⊙ tanh(c_t) and r_t = W_hr m_t,
    the gates see W_hh r_{t−1} = (W_hh W_hr) m_{t−1}. So each layer runs as
    a plain LSTM with recurrent matrix W_hh W_hr (4H × H), and W_hr projects
    its output afterwards. Same parameters (names, shapes), outputs and
    gradients as ``nn.LSTM`` (to float rounding); only the order of the
    arithmetic changes. Other configurations, an initial state, packed
    sequences and non-CPU tensors use ``nn.LSTM.forward`` itself.
    """

    def forward(self, input, hx=None):  # type: ignore[override]
        if self.proj_size == 0 or hx is not None or not isinstance(input, Tensor) or input.dim() != 3 or not input.is_cpu:
            return super().forward(input, hx)
        D = 2 if self.bidirectional else 1
        x = input
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = torch.nn.functional.dropout(x, self.dropout, True)
            x, h_last, c_last = self._projected_layer(x, layer, D)
            h_n.append(h_last)
            c_n.append(c_last)
        return x, (torch.cat(h_n), torch.cat(c_n))

    def _projected_layer(self, x: Tensor, layer: int, D: int) -> tuple[Tensor, Tensor, Tensor]:
        """One layer: x (B, T, F) (or (T, B, F)) → output (…, D·P), h_n (D, B, P), c_n (D, B, H)."""
        weights, projections = [], []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            w_hr = getattr(self, "weight_hr" + sfx)  # (P, H)
            weights += [getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx) @ w_hr]  # (4H, H)
            if self.bias:
                weights += [getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)]
            projections.append(w_hr)
        batch = x.shape[0 if self.batch_first else 1]
        zeros = x.new_zeros(D, batch, self.hidden_size)
        m, _, c_last = torch.lstm(
            x, (zeros, zeros), weights, self.bias, 1, 0.0, self.training, self.bidirectional, self.batch_first
        )  # m: (…, D·H) unprojected outputs
        H = self.hidden_size
        out = torch.cat([m[..., d * H : (d + 1) * H] @ projections[d].T for d in range(D)], dim=-1)  # (…, D·P)
        time_axis = 1 if self.batch_first else 0
        P = self.proj_size
        last = [out.select(time_axis, -1 if d == 0 else 0)[..., d * P : (d + 1) * P] for d in range(D)]
        return out, torch.stack(last), c_last


def unroll(
    x_proj: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Run one LSTM direction over already-projected inputs.

    x_proj: (B, T, 4H) = W_ih x + b_ih (gate order i, f, g, o), either from a
    shared matrix or, for paper 000's Extended CLSTM, a matrix per position.
    w_hh: (4H, P) with P = H, or P = proj_size when ``w_hr`` (P, H) is given.
    Returns h (B, T, P) and c, i, f, g, o (B, T, H), in input time order
    even when ``reverse`` runs from the last step to the first.
    """
    B, T, _ = x_proj.shape
    H = w_hh.shape[0] // 4
    P = w_hh.shape[1]
    h = x_proj.new_zeros(B, P) if h0 is None else h0
    c = x_proj.new_zeros(B, H) if c0 is None else c0
    outs: dict[str, list[Tensor]] = {k: [None] * T for k in "hcifgo"}  # type: ignore[list-item]
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        gates = x_proj[:, t] + h @ w_hh.T  # (B, 4H)
        if b_hh is not None:
            gates = gates + b_hh
        i, f, g, o = gates.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        if w_hr is not None:
            h = h @ w_hr.T  # (B, P)
        for k, v in zip("hcifgo", (h, c, i, f, g, o)):
            outs[k][t] = v
    return tuple(torch.stack(outs[k], dim=1) for k in "hcifgo")  # type: ignore[return-value]


def unroll_stacked(
    x_proj: Tensor, w_hh: Tensor, bias: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """D independent LSTMs over the same number of steps at once, one batched product per step.

    x_proj: (D, B, T, 4H) = W_ih x + b_ih per LSTM (gate order i, f, g, o);
    w_hh: (D, 4H, H); bias: (D, 4H) added to every step, or None. Each runs
    forward in time (flip a backward direction's input before and its
    outputs after). Returns h, c, i, f, g, o, each (D, B, T, H). Used for
    paper 000's short window recurrences, where the loop is r1 = 5 steps.
    """
    D, B, T, _ = x_proj.shape
    H = w_hh.shape[-1]
    h = x_proj.new_zeros(D, B, H)
    c = x_proj.new_zeros(D, B, H)
    w_t = w_hh.transpose(1, 2)  # (D, H, 4H)
    outs: dict[str, list[Tensor]] = {k: [] for k in "hcifgo"}
    for x_t in x_proj.unbind(dim=2):  # one backward op for all steps, not a zero-filled buffer per step
        gates = x_t + torch.bmm(h, w_t)  # (D, B, 4H)
        if bias is not None:
            gates = gates + bias[:, None, :]
        i, f, o = torch.sigmoid(gates[..., : 2 * H]).chunk(2, dim=-1) + (torch.sigmoid(gates[..., 3 * H :]),)
        g = torch.tanh(gates[..., 2 * H : 3 * H])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for k, v in zip("hcifgo", (h, c, i, f, g, o)):
            outs[k].append(v)
    return tuple(torch.stack(outs[k], dim=2) for k in "hcifgo")  # type: ignore[return-value]


def lstm_states(lstm: nn.LSTM, x: Tensor, frame_rate: float = FRAME_RATE) -> list[LSTMStates]:
    """Recompute every state and gate of ``lstm`` on input ``x``, one entry per layer.

    x: (B, T, F) if ``lstm.batch_first`` else (T, B, F). Zero initial states,
    as ``nn.LSTM`` called without ``hx``. Results are always batch-first,
    (B, T, D, H). Dropout between layers is not applied: call it on a model
    in eval mode to match its forward pass.
    """
    if not lstm.batch_first:
        x = x.transpose(0, 1)
    D = 2 if lstm.bidirectional else 1
    layers: list[LSTMStates] = []
    layer_in = x  # (B, T, F)
    for layer in range(lstm.num_layers):
        per_dir = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            w_ih = getattr(lstm, "weight_ih" + sfx)
            w_hh = getattr(lstm, "weight_hh" + sfx)
            b_ih = getattr(lstm, "bias_ih" + sfx) if lstm.bias else None
            b_hh = getattr(lstm, "bias_hh" + sfx) if lstm.bias else None
            w_hr = getattr(lstm, "weight_hr" + sfx) if lstm.proj_size > 0 else None
            x_proj = layer_in @ w_ih.T  # (B, T, 4H)
            if b_ih is not None:
                x_proj = x_proj + b_ih
            per_dir.append(unroll(x_proj, w_hh, b_hh, w_hr, reverse=d == 1))
        h, c, i, f, g, o = (torch.stack([p[k] for p in per_dir], dim=2) for k in range(6))
        layers.append(LSTMStates(h=h, c=c, i=i, f=f, g=g, o=o, frame_rate=frame_rate))
        layer_in = h.flatten(2)  # (B, T, D*P): directions concatenated, as nn.LSTM
    return layers
