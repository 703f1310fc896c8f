"""Convolutional recurrent layers of paper 000 (Keren & Schuller, "Convolutional RNN", 2016).

A convolutional recurrent layer (Sec. III-A, III-C) cuts the frame sequence
into windows of r1 frames with shift r2, feeds each window frame by frame
into one LSTM shared by all windows (like a convolution's shared filter),
summarises each window by the max, mean or last of the LSTM's hidden or
cell states, and max-pools the window features over p1 windows with shift p2.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crnn.core.features import FrontEnd
from crnn.core.lstm import LSTMStates, unroll_stacked
from crnn.core.models.base import SERModel

WindowFeature = Literal["last", "max", "mean"]
WindowState = Literal["c", "h"]
Combine = Literal["concat", "linear"]


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
        combine: how a CBLSTM joins its two directions: "concat" (the first
            checkpoints: each direction summarised, D·H features) or "linear"
            (paper Eq. 9: y_t = W_fy c_f,t + W_by c_b,t + b_y, H features per
            step, then the window feature of y).

    The LSTM is torch's (no peephole terms W_c· c of the paper's Eqs. 3-6),
    so that it shares :mod:`crnn.core.lstm` with every other model. When the
    window feature is a last state, or any summary of hidden states, of a
    layer with shared input weights, all windows run through the fused
    ``torch.lstm`` kernel as B·W sequences of r1 frames (its final cell
    state is c_r1). Otherwise (per-step cell states, Eq. 9, the Extended
    CLSTM's position-dependent input weights) the r1 = 5 steps are unrolled
    in Python, both directions in one batched product per step
    (:func:`crnn.core.lstm.unroll_stacked`).
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
        combine: Combine = "concat",
    ) -> None:
        super().__init__()
        if feature not in ("last", "max", "mean") or state not in ("c", "h") or combine not in ("concat", "linear"):
            raise ValueError(f"unknown window feature {feature!r} of state {state!r} or combination {combine!r}")
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
        # Eq. 9: y_t = W_fy s_f,t + W_by s_b,t + b_y (s the chosen state of each direction)
        self.combiner = nn.Linear(D * H, H) if combine == "linear" and D == 2 else None

    @property
    def out_dim(self) -> int:
        return self.hidden if self.combiner is not None else self.directions * self.hidden

    @property
    def fused(self) -> bool:
        """Whether the window features come from the fused kernel (see the class docstring)."""
        return not self.extended and self.combiner is None and (self.feature == "last" or self.state == "h")

    def _windows(self, x: Tensor) -> Tensor:
        """(B, T, F) → (B, W, r1, F)."""
        x = _pad_to(x, self.window + self.shift * (self.pool - 1))
        return x.unfold(1, self.window, self.shift).transpose(2, 3)

    def _run(self, x: Tensor) -> list[tuple[Tensor, ...]]:
        """Per direction, (h, c, i, f, g, o) each (B, W, r1, H), every direction in input time order."""
        win = self._windows(x)  # (B, W, r1, F)
        B, W, R, Fdim = win.shape
        flat = win.reshape(B * W, R, Fdim)
        if self.extended:  # position r uses its own W_x: (B·W, r1, F) · (D, r1, 4H, F)
            x_proj = torch.einsum("nrf,drgf->dnrg", flat, self.weight_ih)
        else:
            x_proj = torch.einsum("nrf,dgf->dnrg", flat, self.weight_ih)  # (D, B·W, r1, 4H)
        if self.directions == 2:  # the backward LSTM reads each window from its last frame
            x_proj = torch.stack([x_proj[0], x_proj[1].flip(1)])
        out = unroll_stacked(x_proj, self.weight_hh, self.bias)  # each (D, B·W, r1, H)
        runs = []
        for d in range(self.directions):
            runs.append(tuple((s[d].flip(1) if d == 1 else s[d]).reshape(B, W, R, -1) for s in out))
        return runs

    def _fused_features(self, x: Tensor) -> Tensor:
        """Window features (B, W, D·H) from the fused kernel: all windows as B·W sequences of r1 frames."""
        win = self._windows(x)  # (B, W, r1, F)
        B, W, R, Fdim = win.shape
        D, H = self.directions, self.hidden
        params = []
        for d in range(D):  # the layer's single bias as b_ih, zero b_hh
            params += [self.weight_ih[d], self.weight_hh[d], self.bias[d], torch.zeros_like(self.bias[d])]
        zeros = x.new_zeros(D, B * W, H)
        out, _, c_last = torch.lstm(
            win.reshape(B * W, R, Fdim), (zeros, zeros), params, True, 1, 0.0, self.training, D == 2, True
        )  # out (B·W, r1, D·H); c_last (D, B·W, H): each direction's final cell state
        if self.state == "c":  # feature "last": forward ends at frame r1, backward at frame 1
            feats = c_last.permute(1, 0, 2).reshape(B * W, D * H)
        else:
            seq = out.reshape(B * W, R, D, H)
            feats = torch.cat([self._summarise(seq[:, None, :, d], d)[:, 0] for d in range(D)], dim=-1)
        return feats.reshape(B, W, D * H)

    def _summarise(self, seq: Tensor, direction: int) -> Tensor:
        """(B, W, r1, H) → (B, W, H)."""
        if self.feature == "max":
            return seq.amax(dim=2)
        if self.feature == "mean":
            return seq.mean(dim=2)
        return seq[:, :, 0] if direction == 1 else seq[:, :, -1]

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            feats = self._fused_features(x)  # (B, W, D·H)
        else:
            runs = self._run(x)
            idx = 1 if self.state == "c" else 0
            if self.combiner is not None:  # Eq. 9 per step, then the window feature of y
                y = self.combiner(torch.cat([r[idx] for r in runs], dim=-1))  # (B, W, r1, H)
                feats = self._summarise(y, 0)
            else:
                feats = torch.cat([self._summarise(r[idx], d) for d, r in enumerate(runs)], dim=-1)  # (B, W, D·H)
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


class PlainConv(nn.Module):
    """Paper 000's "standard convolutional layer" baseline (Sec. IV-A, Table I): a ConvRecurrent's place taken
    by an affine map of each window followed by a ReLU, with the same windows, features and max-pooling.

    x: (B, T, F) → (B, T', hidden); W and T' as :class:`ConvRecurrent`. The
    paper does not name the non-linearity; ReLU is this project's choice.
    """

    def __init__(self, d_in: int, hidden: int = 100, window: int = 5, shift: int = 2, pool: int = 2,
                 pool_shift: int = 2) -> None:
        super().__init__()
        self.window, self.shift, self.pool, self.pool_shift, self.hidden = window, shift, pool, pool_shift, hidden
        self.conv = nn.Conv1d(d_in, hidden, window, stride=shift)

    @property
    def out_dim(self) -> int:
        return self.hidden

    def forward(self, x: Tensor) -> Tensor:
        x = _pad_to(x, self.window + self.shift * (self.pool - 1))  # (B, T, F), at least one pool
        feats = F.relu(self.conv(x.transpose(1, 2)))  # (B, hidden, W)
        return F.max_pool1d(feats, self.pool, self.pool_shift, ceil_mode=True).transpose(1, 2)  # (B, T', hidden)


class ConvRNN(SERModel):
    """Convolutional recurrent layers + BLSTM + classifier (paper 000, Secs. III and IV-A, IV-B).

    log-Mels (B, T, 40) → ``conv_layers`` ConvRecurrent(100) → BLSTM
    (``hidden`` per direction) → mean over time → FC ``fc_size`` (ReLU) →
    n_classes. Paper settings (Sec. IV-A, emotion): two layers with windows
    of 5 frames and shift 2, the last cell state c5 as window feature, 100
    features per window, max-pooling over 2 windows with shift 2, a dense
    layer of 400 ReLUs. The CBLSTM (Sec. IV-B, age and gender): one layer
    whose two directions' cell states are combined linearly (Eq. 9, 100
    features per step) and summarised by the max over the window
    (``combine="linear"``, ``feature="max"``, ``conv_layers=1``, the
    registry's cblstm; the first cblstm checkpoint concatenated the
    directions' last cell states in two layers).

    Deviations (:meth:`deviations_for`): 40 log-Mel bands (the project
    front-end) instead of 26; LSTMs without the peephole terms of Eqs. 3-6;
    the paper's top is an LSTM of 256 (emotion; a BLSTM of 256 for age and
    gender) whose softmax outputs over the last four (all) steps are
    averaged — here a BLSTM of ``hidden`` whose outputs are averaged over
    time before the dense layer; the paper balances classes by oversampling
    the smaller ones, the trainer weights the cross-entropy instead; the
    paper's optimiser (Adam, lr 0.002, β1 = 0.9 and β2 = 0.999, written 0.1
    and 0.001 in Blocks' convention; early stopping after 12 epochs without
    a better validation error) is the registry's ``recipe``.

    ``layer_kind="plain"`` (the registry's plain_conv) puts paper 000's
    "standard convolutional layer" baseline (:class:`PlainConv`, Table I) in
    place of each convolutional recurrent layer: same windows, 100 features
    per window, same pooling; everything above is unchanged.

    Feature normalisation: per speaker and band (the paper's mean and
    standard deviation normalisation "for each combination of speaker and
    feature"): ``ModelSpec.norm = "speaker"``.

    Shapes: wave (B, N) → input (B, T, 40); cnn (B, T', D'·100) with
    T' ≈ T / 16 (6.25 steps/s) after two layers, T / 4 after one, D' = 2
    for concatenated CBLSTM directions, else 1; rnn (B, T', 2·hidden);
    mlp (B, fc_size); logits (B, n_classes).

    ``lstm_states`` adds "conv0.layer0" (and "conv1.layer0"): the states
    each window of the convolutional recurrent layers ends in, at 50 (and
    12.5) windows/s, besides "rnn.layer0".
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
        combine: Combine = "concat",
        conv_layers: int = 2,
        layer_kind: Literal["recurrent", "plain"] = "recurrent",
    ) -> None:
        super().__init__()
        self._save_config(locals())
        if conv_layers not in (1, 2) or layer_kind not in ("recurrent", "plain"):
            raise ValueError("conv_layers must be 1 or 2, layer_kind 'recurrent' or 'plain'")
        self.frontend = FrontEnd("logmel")
        shape = dict(hidden=conv_hidden, window=window, shift=shift, pool=pool, pool_shift=pool_shift)
        layer = dict(bidirectional=bidirectional, extended=extended, feature=feature, state=state, combine=combine)

        def make(d_in: int) -> nn.Module:
            return PlainConv(d_in, **shape) if layer_kind == "plain" else ConvRecurrent(d_in, **shape, **layer)

        self.conv0 = make(self.frontend.n_features)
        self.conv1 = make(self.conv0.out_dim) if conv_layers == 2 else None
        top = self.conv1 or self.conv0
        self.rnn = nn.LSTM(top.out_dim, hidden, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, fc_size), nn.ReLU())
        self.out = nn.Linear(fc_size, n_classes)

    def recurrent_layers(self) -> dict[str, nn.Module]:
        layers = {"conv0": self.conv0, "conv1": self.conv1, "rnn": self.rnn}
        return {name: module for name, module in layers.items() if isinstance(module, (ConvRecurrent, nn.LSTM))}

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        cnn = self.conv0(x)  # (B, T / 4, D'·100)
        if self.conv1 is not None:
            cnn = self.conv1(cnn)  # (B, T / 16, D'·100)
        rnn, _ = self.rnn(cnn)  # (B, T', 2H)
        hidden = self.mlp(rnn.mean(dim=1))  # (B, fc_size)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": hidden, "logits": self.out(hidden)}

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        found = [
            "40 log-Mel bands instead of 26",
            "LSTMs without peephole connections (paper 000 Eqs. 3-6)",
            "top: BLSTM outputs averaged over time, then the dense layer (paper: LSTM 256, softmax averaged over "
            "the last 4 steps; BLSTM 256 and all steps for age and gender)",
            "classes balanced by a weighted cross-entropy (paper: oversampling the smaller classes)",
        ]
        if config.get("layer_kind") == "plain":
            found.append("standard convolutional layers with a ReLU (the paper does not name the non-linearity)")
        if config.get("bidirectional") and config.get("combine", "concat") == "concat":
            found.append("CBLSTM directions concatenated (paper Eq. 9: cell states combined linearly, "
                         "max over the window, one layer)")
        return found
