"""1D and 2D CNN-LSTM networks of paper 004 (Zhao, Mao & Chen, 2019, Sec. 3, Tables 1-2)."""

from __future__ import annotations

from torch import Tensor, nn

from crnn.core.features import FrontEnd
from crnn.core.models.base import SERModel, wave_frames


class LFLB(nn.Module):
    """Local feature learning block (paper 004 Sec. 3.1, Fig. 3): conv (stride 1, SAME) → BN → ELU → max-pool.

    ELU is increasing, so it commutes with max-pooling: the block applies it
    after the pool, the same function on a quarter (or less) of the values.
    1D: (B, C_in, L) → (B, C_out, L / pool); 2D: (B, C_in, H, W) → (B, C_out, H / pool_h, W / pool_w).
    """

    def __init__(self, c_in: int, c_out: int, pool: int | tuple[int, int], dims: int) -> None:
        super().__init__()
        if dims == 1:
            conv, bn, mp = nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d
        else:
            conv, bn, mp = nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d
        self.conv = conv(c_in, c_out, 3, padding=1)
        self.bn = bn(c_out)
        self.pool = mp(pool)
        self.act = nn.ELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.pool(self.bn(self.conv(x))))


class CNNLSTM1D(SERModel):
    """1D CNN-LSTM on the raw waveform (paper 004 Sec. 3.2, Table 1).

    Four LFLBs with 64, 64, 128, 128 kernels of size 3 and max-pooling 4
    (the waveform shrinks 256-fold: 62.5 steps/s at 16 kHz), an LSTM of 256
    cells, and a fully connected output layer on the LSTM's last output
    (Keras' default, as in the paper).

    Deviations: the waveform is scaled to unit RMS (the project front-end);
    there is no hidden FC layer in the paper, so the "mlp" module is the
    LSTM's last output, the representation the output layer reads.

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
    time pooled by 2 per block, so the LSTM runs at 6.25 steps/s.

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

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)  # (B, T, 40)
        y = self.cnn(x.transpose(1, 2).unsqueeze(1))  # (B, 128, F', T')
        cnn = y.flatten(1, 2).transpose(1, 2)  # (B, T', 128 · F')
        rnn, _ = self.rnn(cnn)  # (B, T', 256)
        last = rnn[:, -1]  # (B, 256)
        return {"input": x, "cnn": cnn, "rnn": rnn, "mlp": last, "logits": self.out(last)}
