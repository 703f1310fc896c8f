"""LSTM-based convolutional recurrent network of paper 003 ("LSTM based convolutional recurrent neural networks", HKUST)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from crnn.core.features import FrontEnd
from crnn.core.lstm import LSTM, LSTMStates
from crnn.core.models.base import SERModel, mlp


class LSTMCRNN(SERModel):
    """LSTM-CRNN / CLSTMP network (paper 003, Sec. 3, Fig. 2; Tables 3-5).

    Each frame's 40 log-Mels are cut into overlapping frequency patches of
    ``patch_bands`` bands with shift ``patch_shift`` (9 patches by default).
    One LSTM, shared by all patches like a convolution filter, runs along
    time on every patch; its outputs are max-pooled over ``patch_pool``
    neighbouring patches (paper: pooling size 3). With ``conv_proj`` > 0 the
    patch LSTM has a recurrent projection (CLSTMP, Table 4). Then an LSTM
    along time (optionally projected, "LstmP" of Table 5), the mean over
    time, ReLU FC layers and the output layer.

    Settings: the paper's best layout "CLstm384P256 + Pooling + Lstm2000P750
    + 3×ReLU2000" (Table 5) is an ASR model with 45 M parameters; here it is
    scaled to a 2-core CPU and small emotion corpora: CLstm128 (lstm_crnn) or
    CLstm256P128 (lstm_crnnp), Lstm256 (P128 in lstm_crnnp) and two ReLU
    layers of 256. The paper does not give the patch size: 8 bands with
    shift 4 (9 patches, each a fifth of the Mel axis) is our choice.
    The paper's frame-level senone outputs become an utterance-level mean
    over time (emotion classification).

    Deviations from paper 003 (also in :meth:`deviations_for`): the input is
    40 static log-Mels per frame, without the paper's energy value and
    first- and second-order derivatives (Sec. 4.1); the LSTMs are torch's,
    without the peephole connections W_ci, W_cf, W_co of Eqs. 3-8; the
    sizes are scaled down (above); one utterance-level label instead of
    frame-level targets. The projected LSTMs (lstm_crnnp) are exactly
    LSTMP (the recurrence sees the projection, as in [9][18]) and run on
    the fused kernel (:class:`crnn.core.lstm.LSTM`).

    Feature normalisation: the paper does not state it; the registry's
    default is "global" (per-band mean and std of the training set after
    removing each utterance's gain), see ``ModelSpec.norm``.

    Shapes: wave (B, N) → input (B, T, 40); cnn (B, T, P' · H1) with
    P' = pooled patches, H1 = conv_proj or conv_hidden; rnn (B, T, proj or
    hidden); mlp (B, fc_sizes[-1]); logits (B, n_classes).

    ``lstm_states``: "patch_lstm.layer0" has the P patches as extra cells,
    (B, T, 1, P · H), cell p · H + j being cell j on patch p; "rnn.layer0"
    as usual.
    """

    feature_kind = "logmel"

    def __init__(
        self,
        n_classes: int,
        patch_bands: int = 8,
        patch_shift: int = 4,
        patch_pool: int = 3,
        conv_hidden: int = 128,
        conv_proj: int = 0,
        hidden: int = 256,
        proj: int = 0,
        fc_sizes: tuple[int, ...] = (256, 256),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        self.frontend = FrontEnd("logmel")
        self.patch_bands, self.patch_shift, self.patch_pool = patch_bands, patch_shift, patch_pool
        self.n_patches = (self.frontend.n_features - patch_bands) // patch_shift + 1
        self.patch_lstm = LSTM(patch_bands, conv_hidden, batch_first=True, proj_size=conv_proj)
        d_patch = conv_proj or conv_hidden
        d_cnn = (self.n_patches // patch_pool) * d_patch
        self.rnn = LSTM(d_cnn, hidden, batch_first=True, proj_size=proj)
        self.mlp = mlp([proj or hidden, *fc_sizes], dropout=dropout)
        self.out = nn.Linear(fc_sizes[-1], n_classes)

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        B, T, _ = x.shape
        patches = x.unfold(2, self.patch_bands, self.patch_shift)  # (B, T, P, bands)
        P = patches.shape[2]
        seqs = patches.permute(0, 2, 1, 3).reshape(B * P, T, self.patch_bands)  # (B·P, T, bands)
        y, _ = self.patch_lstm(seqs)  # (B·P, T, H1)
        y = y.reshape(B, P, T, -1).permute(0, 2, 3, 1).reshape(B * T, -1, P)  # (B·T, H1, P)
        y = F.max_pool1d(y, self.patch_pool)  # (B·T, H1, P') pooled over neighbouring patches
        cnn = y.transpose(1, 2).reshape(B, T, -1)  # (B, T, P' · H1)
        rnn, _ = self.rnn(cnn)  # (B, T, H2)
        hidden = self.mlp(rnn.mean(dim=1))  # (B, fc)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": hidden, "logits": self.out(hidden)}

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        return [
            "input: 40 static log-Mels without the energy value and without Δ and ΔΔ (paper 003 Sec. 4.1)",
            "LSTMs without peephole connections (paper 003 Eqs. 3-8)",
            "sizes scaled to a 2-core CPU and ~1,000 utterances (paper: CLstm384P256, Lstm2000P750, 3×ReLU2000)",
            "patch size 8 bands with shift 4: the paper does not give it",
            "utterance-level emotion from the mean over time instead of frame-level senone targets",
        ]

    def _fold_states(self, name: str, states: LSTMStates, batch: int) -> LSTMStates:
        if name != "patch_lstm":
            return states

        def fold(s: Tensor) -> Tensor:  # (B·P, T, D, H) → (B, T, D, P·H)
            BP, T, D, H = s.shape
            return s.reshape(batch, BP // batch, T, D, H).permute(0, 2, 3, 1, 4).reshape(batch, T, D, -1)

        return replace(states, **{k: fold(getattr(states, k)) for k in ("h", "c", "i", "f", "g", "o")})
