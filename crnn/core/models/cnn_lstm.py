"""1D and 2D CNN-LSTM networks of paper 004 (Zhao, Mao & Chen, 2019, Sec. 3, Tables 1-2).

Deviations common to both: the paper regularises with penalties on the
layer parameters (L2) and on the layer activity, added to the loss
(Sec. 5.2), without reporting their weights: not used here; it picks the
optimiser and its settings by Bayesian optimisation (Sec. 3.4), here the
trainer's recipe applies.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crnn.core.features import FrontEnd
from crnn.core.models.base import SERModel, wave_frames
from crnn.core.models.pooled_conv import MaxPooledConv1d, max_pool1d

PENALTIES = "no L2 weight or activity penalties (paper 004 Sec. 5.2 uses both; weights not reported)"
TUNING = "optimiser and learning rate from the trainer's recipe (paper: chosen by Bayesian optimisation)"


class LFLB(nn.Module):
    """Local feature learning block (paper 004 Sec. 3.1, Fig. 3): conv (stride 1, SAME) → BN → ELU → max-pool.

    ELU is increasing, so it commutes with max-pooling: the block applies it
    after the pool, the same function on a quarter (or less) of the values.
    1D: (B, C_in, L) → (B, C_out, L / pool); 2D: (B, C_in, H, W) → (B, C_out, H / pool_h, W / pool_w).

    A 1D block on the single-channel waveform (the first of the 1D CNN-LSTM)
    computes the same function without the full-rate conv output: BatchNorm
    is a per-channel affine map, so it folds into the filters of the
    max-pooled conv (:class:`crnn.core.models.pooled_conv.MaxPooledConv1d`,
    where a negative scale turns the max into a min); its batch statistics
    are those of a linear filter of the wave, exact from the wave's 3 × 3
    lag covariance. Same parameters, buffers (running statistics), outputs
    and gradients (to float rounding), about 4× less time for the block.
    """

    def __init__(self, c_in: int, c_out: int, pool: int | tuple[int, int], dims: int) -> None:
        super().__init__()
        if dims == 1:
            conv, bn, mp = nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d
        else:
            conv, bn, mp = nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d
        self.single_channel = dims == 1 and c_in == 1
        if self.single_channel:  # same parameters as conv(1, c_out, 3, padding=1)
            self.conv = MaxPooledConv1d(c_out, 3, pool, padding=(1, 1))
        else:
            self.conv = conv(c_in, c_out, 3, padding=1)
        self.bn = bn(c_out)
        self.pool = mp(pool)
        self.act = nn.ELU()

    def forward(self, x: Tensor) -> Tensor:
        if self.single_channel:
            return self.act(self._pooled_single_channel(x))
        if isinstance(self.pool, nn.MaxPool1d):  # the same pool, a byte per value for the backward pass
            return self.act(max_pool1d(self.bn(self.conv(x)), self.pool.kernel_size))
        return self.act(self.pool(self.bn(self.conv(x))))

    def _pooled_single_channel(self, x: Tensor) -> Tensor:
        """pool(bn(conv(x))) for x (B, 1, N) without the (B, C, N) conv output; → (B, C, N // pool)."""
        conv, bn = self.conv, self.bn
        w, b = conv.weight[:, 0], conv.bias  # (C, K), (C,)
        if self.training or bn.running_mean is None:
            mean, var = _filtered_moments(x[:, 0], w, b, conv.pads)  # batch statistics of conv(x)
            if bn.training and bn.track_running_stats:
                _update_running_stats(bn, mean, var, x.shape[0] * x.shape[-1])
        else:
            mean, var = bn.running_mean, bn.running_var
        gamma = bn.weight if bn.affine else torch.ones_like(mean)
        beta = bn.bias if bn.affine else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + bn.eps)  # (C,): bn(y) = scale · y + beta − scale · mean
        return conv(x, scale, beta - scale * mean)  # (B, C, L): the pool of bn(conv(x))


def _filtered_moments(x: Tensor, w: Tensor, b: Tensor, pads: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance over (B, N) of each channel of conv1d(F.pad(x, pads), w, b): (C,), (C,).

    y_c[n] = w_c · X[n] + b_c with X[n] the K samples under the filter, so
    mean = w_c · E[X] + b_c and var = w_c Σ w_cᵀ, Σ the K × K covariance of
    X over all positions (zero padding included), accumulated in float64.
    """
    K = w.shape[1]
    windows = F.pad(x, pads).unfold(-1, K, 1).reshape(-1, K).double()  # (B · N, K)
    m = windows.mean(dim=0)  # (K,)
    cov = (windows.T @ windows) / windows.shape[0] - torch.outer(m, m)  # (K, K)
    w64 = w.double()
    mean = w64 @ m + b.double()
    var = ((w64 @ cov) * w64).sum(dim=1).clamp_min(0)
    return mean.to(w.dtype), var.to(w.dtype)


@torch.no_grad()
def _update_running_stats(bn: nn.modules.batchnorm._BatchNorm, mean: Tensor, var: Tensor, n: int) -> None:
    """What ``F.batch_norm`` does to the running statistics in training (unbiased variance)."""
    bn.num_batches_tracked.add_(1)
    momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    bn.running_mean.mul_(1 - momentum).add_(momentum * mean)
    bn.running_var.mul_(1 - momentum).add_(momentum * var * n / max(n - 1, 1))


class CNNLSTM1D(SERModel):
    """1D CNN-LSTM on the raw waveform (paper 004 Sec. 3.2, Table 1).

    Four LFLBs with 64, 64, 128, 128 kernels of size 3 and max-pooling 4
    (the waveform shrinks 256-fold: 62.5 steps/s at 16 kHz), an LSTM of 256
    cells, and a fully connected output layer on the LSTM's last output
    (Keras' default, as in the paper).

    Deviations (:meth:`deviations_for`): the waveform is scaled to unit RMS
    per utterance (the project front-end; the paper does not say), whatever
    ``ModelSpec.norm`` says; no L2 or activity penalties, no Bayesian
    hyperparameter search (module docstring). There is no hidden FC layer
    in the paper, so the "mlp" module is the LSTM's last output, the
    representation the output layer reads.

    Shapes: wave (B, N) → input (B, N // 160, 160) the normalised wave in
    10 ms frames; cnn (B, N // 256, 128); rnn (B, N // 256, 256);
    mlp (B, 256); logits (B, n_classes).
    """

    feature_kind = "waveform"

    def __init__(
        self,
        n_classes: int,
        channels: tuple[int, ...] = (64, 64, 128, 128),
        pool: int = 4,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        self.frontend = FrontEnd("waveform")
        sizes = [1, *channels]
        self.cnn = nn.Sequential(*(LFLB(a, b, pool, dims=1) for a, b in zip(sizes[:-1], sizes[1:])))
        self.rnn = nn.LSTM(channels[-1], hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_classes)

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        return ["waveform scaled to unit RMS per utterance (paper: not stated)", PENALTIES, TUNING]

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, N)
        cnn = self.cnn(x.unsqueeze(1)).transpose(1, 2)  # (B, N / 256, 128)
        rnn, _ = self.rnn(cnn)  # (B, N / 256, 256)
        last = rnn[:, -1]  # (B, 256)
        return {"input": wave_frames(x), "cnn": cnn, "rnn": rnn, "mlp": last, "logits": self.out(last)}


class CNNLSTM2D(SERModel):
    """2D CNN-LSTM on log-Mel spectrograms (paper 004 Sec. 3.3, Table 2).

    Four LFLBs of 3×3 kernels with 64, 64, 128, 128 maps, an LSTM of 256
    cells on the frame sequence, and the output layer on its last output.

    Deviation: the paper pools 2×2, then 4×4 three times (M/128 × N/128):
    on 40 Mel bands and 100 frames/s this would leave no frequency and 0.8
    steps per second. Here pooling is (frequency × time) 2×2, 4×2, 4×2, 1×2:
    the paper's frequency pooling until one band is left (40 → 20 → 5 → 1),
    time pooled by 2 per block, so the LSTM runs at 6.25 steps/s. Also no
    L2 or activity penalties, no Bayesian hyperparameter search (module
    docstring).

    Feature normalisation: the paper does not state one; the registry's
    default is "global" (training-set statistics per band after gain
    removal, ``ModelSpec.norm``).

    Shapes: wave (B, N) → input (B, T, 40); cnn (B, T // 16, 128);
    rnn (B, T // 16, 256); mlp (B, 256) the LSTM's last output;
    logits (B, n_classes).
    """

    feature_kind = "logmel"

    def __init__(
        self,
        n_classes: int,
        channels: tuple[int, ...] = (64, 64, 128, 128),
        freq_pools: tuple[int, ...] = (2, 4, 4, 1),
        time_pools: tuple[int, ...] = (2, 2, 2, 2),
        hidden: int = 256,
    ) -> None:
        super().__init__()
        self._save_config(locals())
        self.frontend = FrontEnd("logmel")
        sizes = [1, *channels]
        self.cnn = nn.Sequential(
            *(
                LFLB(a, b, (pf, pt), dims=2)
                for a, b, pf, pt in zip(sizes[:-1], sizes[1:], freq_pools, time_pools)
            )
        )
        n_freq = self.frontend.n_features
        for pf in freq_pools:
            n_freq //= pf
        self.rnn = nn.LSTM(channels[-1] * n_freq, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_classes)

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        return [
            "pooling 2×2, 4×2, 4×2, 1×2 (frequency × time; paper: 2×2 then 4×4 three times, which leaves no "
            "frequency band and 0.8 steps/s on 40 log-Mels at 100 frames/s)",
            PENALTIES,
            TUNING,
        ]

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        y = self.cnn(x.transpose(1, 2).unsqueeze(1))  # (B, 128, F', T')
        cnn = y.flatten(1, 2).transpose(1, 2)  # (B, T', 128 · F')
        rnn, _ = self.rnn(cnn)  # (B, T', 256)
        last = rnn[:, -1]  # (B, 256)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": last, "logits": self.out(last)}
