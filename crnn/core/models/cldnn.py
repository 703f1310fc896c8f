"""LDNN and X-CLDNN models of paper 001 (Huang & Narayanan, Sec. 3, Tables 1-2).

Every frame t is spliced with 10 frames of left and 5 of right context
(Sec. 6.2) into a patch X_t of F × 16 (40 × 16 log-Mels or 13 × 16 MFCCs).
An X-CLDNN applies two X-Conv layers (32 maps, ReLU, pooling of 3 with
stride 2 in the conv's own direction(s), Table 1) to each patch, flattens the
result and feeds the sequence to the LDNN: one BLSTM (128 cells per
direction) → mean over time → dropout 0.2 → FC 128, 32, 32 (ReLU) → N.

Feature normalisation: the paper splices the raw log-Mels / MFCCs
(Sec. 6.2). Raw features carry each recording's gain, so the registry's
default (``ModelSpec.norm = "global"``) is the closest normalised choice:
each utterance's mean log-energy is removed and every band is standardised
with training-set statistics, which keeps the spectral shape and dynamics.
The first checkpoints used per-utterance normalisation ("utterance").
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crnn.core.features import FrontEnd, splice
from crnn.core.models.base import SERModel, mlp

RAW_FEATURES = 'features normalised before the network, as the card\'s "normalisation" says (paper: raw spliced features)'
SPLICE_LEFT, SPLICE_RIGHT = 10, 5
PATCH_WIDTH = SPLICE_LEFT + 1 + SPLICE_RIGHT  # 16 frames
N_MAPS = 32  # feature maps per conv layer (Sec. 3.3)
POOL, POOL_STRIDE = 3, 2  # Sec. 3.1: fixed pooling size 3 and stride 2

ConvType = Literal["S", "T", "ST", "FST"]

# One setting inside Table 2's ranges per type: ((h1, w1), (h2, w2)); h = frequency, w = time.
# None as h1 stands for M, the full spectrum. Spectral filters of 8 and 4 bands, temporal
# filters of 5 and 3 frames: the middle of Table 2's ranges (h1 4:9, h2 3:4, w1 3:8, w2 2:3).
FILTERS: dict[str, tuple[tuple[int | None, int], tuple[int, int]]] = {
    "T": ((1, 5), (1, 3)),
    "S": ((8, 1), (4, 1)),
    "ST": ((8, 5), (4, 3)),
    "FST": ((None, 5), (1, 3)),
}
# Which directions each type pools in (Table 1: m × n pooling), (frequency, time).
POOLS_IN: dict[str, tuple[bool, bool]] = {
    "T": (False, True),
    "S": (True, False),
    "ST": (True, True),
    "FST": (False, True),
}


def _out_len(n: int, kernel: int, stride: int = 1) -> int:
    return (n - kernel) // stride + 1


class LDNN(SERModel):
    """LDNN of paper 001 (Sec. 3.3, Fig. 1 upper right; baselines Secs. 4.2-4.3).

    Spliced frames (F × 16 per frame, flattened) → BLSTM(128 per direction)
    → mean over time → dropout 0.2 → FC 128, 32, 32 (ReLU) → n_classes.

    Shapes: wave (B, N) → input (B, T, F) with T = n_frames(N), F = 40
    (logmel) or 13 (mfcc), the unspliced features; rnn (B, T, 256);
    mlp (B, 32); logits (B, n_classes). No "cnn" module.

    Args:
        n_classes: number of emotion classes.
        features: "logmel" (LDNN (log-Mels)) or "mfcc" (LDNN (MFCCs)).
        hidden: BLSTM cells per direction (paper: 128).
        fc_sizes: hidden FC sizes (paper: 128, 32, 32).
        dropout: dropout on the utterance representation (paper: 0.2).
        splice_context: splice 10 left / 5 right frames as in Sec. 6.2.
    """

    def __init__(
        self,
        n_classes: int,
        features: Literal["logmel", "mfcc"] = "logmel",
        hidden: int = 128,
        fc_sizes: tuple[int, ...] = (128, 32, 32),
        dropout: float = 0.2,
        splice_context: bool = True,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        self.feature_kind = features
        self.frontend = FrontEnd(features)
        self.splice_context = splice_context
        d_in = self.frontend.n_features * (PATCH_WIDTH if splice_context else 1)
        self.rnn = nn.LSTM(d_in, hidden, batch_first=True, bidirectional=True)
        self.mlp = mlp([2 * hidden, *fc_sizes], dropout=dropout)
        self.out = nn.Linear(fc_sizes[-1], n_classes)

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        found = [RAW_FEATURES]
        if not config.get("splice_context", True):
            found.append("frames not spliced (paper: 10 left and 5 right context frames)")
        return found

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, F)
        seq = splice(x, SPLICE_LEFT, SPLICE_RIGHT).flatten(2) if self.splice_context else x
        rnn, _ = self.rnn(seq)  # (B, T, 2H)
        hidden = self.mlp(rnn.mean(dim=1))  # (B, 32)
        return {"input": x, "rnn": rnn, "mlp": hidden, "logits": self.out(hidden)}


class PatchConv(nn.Module):
    """Two X-Conv layers (paper 001 Sec. 3.1, Tables 1-2) on every frame's F × 16 spliced patch.

    Computed without materialising the T patches: filters of stride 1 that
    slide over a patch of consecutive frames give the same values at the same
    absolute frames in every patch that contains them. So the convs run once
    over the whole (edge-padded) sequence, with the first pooling at time
    stride 1, the second conv and pooling dilated by the first pooling's
    stride, and each frame's patch output is gathered at its absolute
    positions. The result equals applying the layers patch by patch
    (``per_patch``, used to test it) at 1/16 of the cost.

    x: (B, T, F) → (B, T, D) with D = 32 × F'' × W'' (the flattened per-patch output).
    """

    def __init__(self, conv: ConvType, n_features: int, maps: int = N_MAPS) -> None:
        super().__init__()
        if conv not in FILTERS:
            raise ValueError(f"unknown conv type {conv!r}; expected one of {sorted(FILTERS)}")
        (h1, w1), (h2, w2) = FILTERS[conv]
        h1 = n_features if h1 is None else h1
        pool_f, pool_t = POOLS_IN[conv]
        self.conv_type = conv
        self.conv1 = nn.Conv2d(1, maps, (h1, w1))
        self.conv2 = nn.Conv2d(maps, maps, (h2, w2))
        self.pool = (POOL if pool_f else 1, POOL if pool_t else 1)  # (freq, time) kernel
        self.stride = (POOL_STRIDE if pool_f else 1, POOL_STRIDE if pool_t else 1)
        # Per-patch shapes, for flattening and for the positions to gather.
        f1 = _out_len(_out_len(n_features, h1), self.pool[0], self.stride[0])
        t1 = _out_len(_out_len(PATCH_WIDTH, w1), self.pool[1], self.stride[1])
        f2 = _out_len(_out_len(f1, h2), self.pool[0], self.stride[0])
        t2 = _out_len(_out_len(t1, w2), self.pool[1], self.stride[1])
        self.out_shape = (maps, f2, t2)
        self.out_dim = maps * f2 * t2

    def forward(self, x: Tensor, frame_stride: int = 1) -> Tensor:
        """x (B, T, F) → (B, ceil(T / frame_stride), D): the patches of frames 0, k, 2k, ..."""
        B, T, _ = x.shape
        st = self.stride[1]
        padded = splice_pad(x).transpose(1, 2).unsqueeze(1)  # (B, 1, F, T + 15)
        y = F.relu(self.conv1(padded))  # (B, 32, F1, T + 15 - w1 + 1)
        y = F.max_pool2d(y, self.pool, (self.stride[0], 1))  # time stride 1: every patch's phase
        y = F.relu(F.conv2d(y, self.conv2.weight, self.conv2.bias, dilation=(1, st)))
        y = F.max_pool2d(y, self.pool, (self.stride[0], 1), dilation=(1, st))  # (B, 32, F2, L)
        # Patch t's output column r lies at absolute position t + st * st * r.
        _, _, t2 = self.out_shape
        span = st * st * (t2 - 1) + 1
        n_out = -(-T // frame_stride)
        cols = y.unfold(3, span, frame_stride)[:, :, :, :n_out, :: st * st]  # (B, 32, F2, T', t2)
        return cols.permute(0, 3, 1, 2, 4).flatten(2)  # (B, T', 32 * F2 * t2)

    def per_patch(self, x: Tensor) -> Tensor:
        """Reference: the layers applied to every F × 16 patch separately; x (B, T, F) → (B, T, D)."""
        B, T, Fdim = x.shape
        patches = splice(x, SPLICE_LEFT, SPLICE_RIGHT).reshape(B * T, 1, Fdim, PATCH_WIDTH)
        y = F.max_pool2d(F.relu(self.conv1(patches)), self.pool, self.stride)
        y = F.max_pool2d(F.relu(self.conv2(y)), self.pool, self.stride)
        return y.reshape(B, T, -1)


def splice_pad(x: Tensor) -> Tensor:
    """(B, T, F) → (B, T + 15, F): the edge repetition of :func:`crnn.core.features.splice`."""
    return torch.cat(
        [x[:, :1].expand(-1, SPLICE_LEFT, -1), x, x[:, -1:].expand(-1, SPLICE_RIGHT, -1)], dim=1
    )


class CLDNN(SERModel):
    """X-CLDNN of paper 001 (Sec. 3.3, Fig. 1; X ∈ {S, T, ST, FST}, Tables 1-2).

    Two X-Conv layers of 32 ReLU maps on each frame's spliced F × 16 patch,
    pooling 3 with stride 2 in the conv's direction(s), then the LDNN on the
    flattened per-frame conv output. Filter shapes, one setting inside
    Table 2's ranges (the paper tuned them per type; the chosen values are
    not reported): T 1×5 then 1×3; S 8×1 then 4×1; ST 8×5 then 4×3;
    FST M×5 then 1×3 (pooling in time only). Per-frame output dimensions
    (log-Mels / MFCCs): T 1280 / 416, S 3072, ST 192, FST 32 / 32.

    Shapes: wave (B, N) → input (B, T, F); cnn (B, T, D) the flattened patch
    output of every frame; rnn (B, T, 256); mlp (B, 32); logits (B, n_classes).

    Args:
        n_classes: number of emotion classes.
        conv: "S", "T", "ST" or "FST" (S and ST only make sense on log-Mels).
        features: "logmel" or "mfcc".
        hidden, fc_sizes, dropout: the LDNN sub-network (paper: 128; 128, 32, 32; 0.2).
        frame_stride: compute the conv on, and feed to the BLSTM, only every
            k-th frame's patch (paper and default: 1, every 10 ms frame). A
            deviation, for slow machines: the BLSTM's input projection is
            most of a training step when the per-frame conv output is wide
            (S-CLDNN: 3072 values per frame, ~75 % of the step). Measured
            training speed of s_cldnn_logmel on one thread: ×1.6 at k = 2,
            ×2.2 at 3, ×2.65 at 4; the registry keeps k = 1, so that the
            four convolution types stay comparable.
        conv_norm: batch-normalise each conv output dimension (over batch and
            frames) before the BLSTM. A deviation, off in the registry: the
            ReLU/max-pool output is positive with a standard deviation of
            about 0.2, where the LDNN's BLSTM gets features of standard
            deviation 1, and the CLDNNs sit at the uniform guess for their
            first epochs while the LDNN learns from the first.

    Deviations (:meth:`deviations_for`): the filter shapes (above); the
    feature normalisation (module docstring); ``frame_stride`` > 1.
    """

    def __init__(
        self,
        n_classes: int,
        conv: ConvType = "FST",
        features: Literal["logmel", "mfcc"] = "logmel",
        hidden: int = 128,
        fc_sizes: tuple[int, ...] = (128, 32, 32),
        dropout: float = 0.2,
        frame_stride: int = 1,
        conv_norm: bool = False,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        if features == "mfcc" and conv in ("S", "ST"):
            raise ValueError("paper 001 applies only T- and FST-Conv to MFCCs (no spectral locality)")
        self.feature_kind = features
        self.frontend = FrontEnd(features)
        self.frame_stride = frame_stride
        self.conv = PatchConv(conv, self.frontend.n_features)
        self.conv_norm = nn.BatchNorm1d(self.conv.out_dim) if conv_norm else None
        self.rnn = nn.LSTM(self.conv.out_dim, hidden, batch_first=True, bidirectional=True)
        self.mlp = mlp([2 * hidden, *fc_sizes], dropout=dropout)
        self.out = nn.Linear(fc_sizes[-1], n_classes)

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        conv = config.get("conv", "FST")
        (h1, w1), (h2, w2) = FILTERS[conv]
        found = [
            f"{conv}-Conv filters {'M' if h1 is None else h1}×{w1} then {h2}×{w2}: one setting inside Table 2's "
            "ranges (the paper tuned them per type and does not report the values)",
            RAW_FEATURES,
        ]
        if config.get("frame_stride", 1) > 1:
            found.append(f"BLSTM on every {config['frame_stride']}th frame's patch (paper: every 10 ms frame)")
        if config.get("conv_norm"):
            found.append("conv output batch-normalised before the BLSTM (not in paper 001)")
        return found

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, F)
        cnn = self.conv(x, self.frame_stride)  # (B, ceil(T / k), D)
        if self.conv_norm is not None:
            cnn = self.conv_norm(cnn.transpose(1, 2)).transpose(1, 2)  # each of the D dimensions over batch and frames
        rnn, _ = self.rnn(cnn)  # (B, T / k, 2H)
        hidden = self.mlp(rnn.mean(dim=1))  # (B, 32)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": hidden, "logits": self.out(hidden)}
