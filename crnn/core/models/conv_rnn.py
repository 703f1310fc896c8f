"""Convolutional recurrent layers of paper 000 (Keren & Schuller, "Convolutional RNN", 2016).

A convolutional recurrent layer (Sec. III-A, III-C) cuts the frame sequence
into windows of r1 frames with shift r2, feeds each window frame by frame
into one LSTM shared by all windows (like a convolution's shared filter),
summarises each window by the max, mean or last of the LSTM's hidden or
cell states, and max-pools the window features over p1 windows with shift p2.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crnn.core.features import FrontEnd
from crnn.core.lstm import LSTMStates, unroll
from crnn.core.models.base import SERModel

WindowFeature = Literal["last", "max", "mean"]
WindowState = Literal["c", "h"]


def _pad_to(x: Tensor, length: int) -> Tensor:
    """(B, T, F) → (B, max(T, length), F), repeating the last frame."""
    missing = length - x.shape[1]
    if missing <= 0:
        return x
    return torch.cat([x, x[:, -1:].expand(-1, missing, -1)], dim=1)


class ConvRecurrent(nn.Module):
    """CLSTM / CBLSTM / Extended CLSTM layer (paper 000 Sec. III-C), then max-pooling over windows.

    x: (B, T, F) → (B, T', D·H) with W = (T − r1) // r2 + 1 windows and
    T' = ceil((W − p1) / p2) + 1 pooled windows (utterances too short for
    one pool are padded by repeating their last frame).

    Args:
        d_in: features per frame (F).
        hidden: LSTM cells per direction (paper: 100).
        window, shift: r1 and r2 in frames (paper: 5 and 2).
        pool, pool_shift: p1 and p2 in windows (paper: 2 and 2).
        bidirectional: CBLSTM when True (a backward LSTM over each window too).
        extended: Extended CLSTM: a separate input matrix W_x· for each of the
            r1 positions in the window, then the shared recurrence.
        feature: "last", "max" or "mean" over the window's states. For a
            backward direction "last" is its final state, at the window's first frame.
        state: "c" (cell states; paper: c5, the last cell state) or "h" (hidden).

    The LSTM is torch's (no peephole terms W_c· c of the paper's Eqs. 3-6),
    so that it shares :mod:`crnn.core.lstm` with every other model. The
    recurrence is unrolled in Python (:func:`crnn.core.lstm.unroll`) because
    windows are only r1 steps long and ``nn.LSTM`` neither returns per-step
    cell states nor takes position-dependent input weights.
    """

    def __init__(
        self,
        d_in: int,
        hidden: int = 100,
        window: int = 5,
        shift: int = 2,
        pool: int = 2,
        pool_shift: int = 2,
        bidirectional: bool = False,
        extended: bool = False,
        feature: WindowFeature = "last",
        state: WindowState = "c",
    ) -> None:
        super().__init__()
        if feature not in ("last", "max", "mean") or state not in ("c", "h"):
            raise ValueError(f"unknown window feature {feature!r} of state {state!r}")
        self.window, self.shift, self.pool, self.pool_shift = window, shift, pool, pool_shift
        self.feature, self.state, self.extended = feature, state, extended
        self.directions = 2 if bidirectional else 1
        self.hidden = hidden
        D, H = self.directions, hidden
        in_shape = (D, window, 4 * H, d_in) if extended else (D, 4 * H, d_in)
        self.weight_ih = nn.Parameter(torch.empty(in_shape))
        self.weight_hh = nn.Parameter(torch.empty(D, 4 * H, H))
        self.bias = nn.Parameter(torch.empty(D, 4 * H))
        bound = 1 / math.sqrt(H)  # nn.LSTM's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def out_dim(self) -> int:
        return self.directions * self.hidden

    def _windows(self, x: Tensor) -> Tensor:
        """(B, T, F) → (B, W, r1, F)."""
        x = _pad_to(x, self.window + self.shift * (self.pool - 1))
        return x.unfold(1, self.window, self.shift).transpose(2, 3)

    def _run(self, x: Tensor) -> list[tuple[Tensor, ...]]:
        """Per direction, (h, c, i, f, g, o) each (B, W, r1, H)."""
        win = self._windows(x)  # (B, W, r1, F)
        B, W, R, Fdim = win.shape
        flat = win.reshape(B * W, R, Fdim)
        runs = []
        for d in range(self.directions):
            if self.extended:  # position r uses its own W_x: (B·W, r1, F) · (r1, 4H, F)
                x_proj = torch.einsum("nrf,rgf->nrg", flat, self.weight_ih[d])
            else:
                x_proj = flat @ self.weight_ih[d].T  # (B·W, r1, 4H)
            out = unroll(x_proj, self.weight_hh[d], self.bias[d], reverse=d == 1)
            runs.append(tuple(s.reshape(B, W, R, -1) for s in out))
        return runs

    def _summarise(self, seq: Tensor, direction: int) -> Tensor:
        """(B, W, r1, H) → (B, W, H)."""
        if self.feature == "max":
            return seq.amax(dim=2)
        if self.feature == "mean":
            return seq.mean(dim=2)
        return seq[:, :, 0] if direction == 1 else seq[:, :, -1]

    def forward(self, x: Tensor) -> Tensor:
        runs = self._run(x)
        idx = 1 if self.state == "c" else 0
        feats = torch.cat([self._summarise(r[idx], d) for d, r in enumerate(runs)], dim=-1)  # (B, W, DH)
        pooled = F.max_pool1d(feats.transpose(1, 2), self.pool, self.pool_shift, ceil_mode=True)
        return pooled.transpose(1, 2)  # (B, T', DH)

    @torch.no_grad()
    def states(self, x: Tensor) -> list[LSTMStates]:
        """The LSTM states each window ends in (forward: its last frame; backward: its first), (B, W, D, H).

        One entry (the layer has one LSTM), at the window rate (before pooling).
        """
        runs = self._run(x)
        picked = [
            torch.stack([r[k][:, :, 0 if d == 1 else -1] for d, r in enumerate(runs)], dim=2)
            for k in range(6)
        ]
        return [LSTMStates(*picked)]


class ConvRNN(SERModel):
    """Two convolutional recurrent layers + BLSTM + classifier (paper 000, Secs. III and IV-A).

    log-Mels (B, T, 40) → ConvRecurrent(100) → ConvRecurrent(100) → BLSTM
    (``hidden`` per direction) → mean over time → FC ``fc_size`` (ReLU) →
    n_classes. Paper settings (Sec. IV-A): windows of 5 frames with shift 2,
    the last cell state c5 as window feature, 100 features per window,
    max-pooling over 2 windows with shift 2, a dense layer of 400 ReLUs.

    Deviations: 40 log-Mel bands (the project front-end) instead of 26; the
    paper's top is a unidirectional LSTM of 256 whose softmax outputs over
    the last four steps are averaged — here, as specified for this project,
    a BLSTM whose outputs are averaged over time before the dense layer.

    Shapes: wave (B, N) → input (B, T, 40); cnn (B, T2, D·100) with
    T2 ≈ T / 16 (6.25 steps/s); rnn (B, T2, 2·hidden); mlp (B, fc_size);
    logits (B, n_classes).

    ``lstm_states`` adds "conv0.layer0" and "conv1.layer0": the states each
    window of the two convolutional recurrent layers ends in, at 50 and
    12.5 windows/s, besides "rnn.layer0".
    """

    feature_kind = "logmel"

    def __init__(
        self,
        n_classes: int,
        bidirectional: bool = False,
        extended: bool = False,
        conv_hidden: int = 100,
        window: int = 5,
        shift: int = 2,
        pool: int = 2,
        pool_shift: int = 2,
        feature: WindowFeature = "last",
        state: WindowState = "c",
        hidden: int = 128,
        fc_size: int = 400,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        self.frontend = FrontEnd("logmel")
        layer = dict(
            hidden=conv_hidden, window=window, shift=shift, pool=pool, pool_shift=pool_shift,
            bidirectional=bidirectional, extended=extended, feature=feature, state=state,
        )
        self.conv0 = ConvRecurrent(self.frontend.n_features, **layer)
        self.conv1 = ConvRecurrent(self.conv0.out_dim, **layer)
        self.rnn = nn.LSTM(self.conv1.out_dim, hidden, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, fc_size), nn.ReLU())
        self.out = nn.Linear(fc_size, n_classes)

    def recurrent_layers(self) -> dict[str, nn.Module]:
        return {"conv0": self.conv0, "conv1": self.conv1, "rnn": self.rnn}

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        cnn = self.conv1(self.conv0(x))  # (B, T2, D·100)
        rnn, _ = self.rnn(cnn)  # (B, T2, 2H)
        hidden = self.mlp(rnn.mean(dim=1))  # (B, fc_size)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": hidden, "logits": self.out(hidden)}
