"""The one feature front-end: log-Mels and MFCCs as differentiable torch modules.

Settings follow paper 001 Sec. 6.2: 40 Mel bands, 25 ms windows, 10 ms hop,
the first 13 MFCCs. The MFCC is the DCT of the log-Mels exactly as Eq. 12 of
paper 001, ``MFCC[k] = sum_m logMel[m] cos(k*pi/M * (m + 1/2))``, i.e. a fixed
spectral-only convolution (the "DCT-Conv" the paper contrasts with S-Conv).

Because the front-end is an ``nn.Module`` inside every model, gradients flow
from the logits back to the spectrogram and the waveform (attributions need it).
"""

from __future__ import annotations

import math
from typing import Literal

import librosa
import numpy as np
import torch
from torch import nn

from crnn.core.audio import SAMPLE_RATE

N_MELS = 40
N_MFCC = 13
WIN_LENGTH = 400  # samples: 25 ms at 16 kHz
HOP_LENGTH = 160  # samples: 10 ms at 16 kHz
N_FFT = 512
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH  # 100 frames per second
LOG_FLOOR = 1e-6  # added to Mel power before the log, so silence stays finite

FeatureKind = Literal["waveform", "logmel", "mfcc"]


def n_frames(n_samples: int) -> int:
    """Number of 25 ms / 10 ms frames in ``n_samples`` samples (no edge padding, as Kaldi)."""
    return max(0, 1 + (n_samples - WIN_LENGTH) // HOP_LENGTH)


def frame_times(n: int) -> np.ndarray:
    """Centre time in seconds of each of ``n`` frames."""
    return (np.arange(n) * HOP_LENGTH + WIN_LENGTH / 2) / SAMPLE_RATE


def mel_filterbank() -> np.ndarray:
    """Triangular HTK-style Mel filters, 20 Hz to 8 kHz, shape (40, N_FFT // 2 + 1)."""
    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=20.0, fmax=SAMPLE_RATE / 2, htk=True
    ).astype(np.float32)


def dct_matrix(n_mels: int = N_MELS, n_mfcc: int = N_MFCC) -> np.ndarray:
    """The DCT basis of paper 001 Eq. 12/13, shape (n_mfcc, n_mels): h_k[m] = cos(k*pi/M (m + 1/2))."""
    k = np.arange(n_mfcc)[:, None]
    m = np.arange(n_mels)[None, :]
    return np.cos(k * math.pi / n_mels * (m + 0.5)).astype(np.float32)


def cmvn(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance mean and variance normalisation over time. x: (B, T, F)."""
    mean = x.mean(dim=1, keepdim=True)
    std = x.std(dim=1, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def splice(x: torch.Tensor, left: int = 10, right: int = 5) -> torch.Tensor:
    """Stack each frame with its context (paper 001 Sec. 6.2), edges repeated.

    x: (B, T, F) → (B, T, F, left + 1 + right); for the defaults a 40×16
    (log-Mel) or 13×16 (MFCC) patch per frame.
    """
    B, T, Fdim = x.shape
    padded = torch.cat([x[:, :1].expand(B, left, Fdim), x, x[:, -1:].expand(B, right, Fdim)], dim=1)
    patches = padded.unfold(1, left + 1 + right, 1)  # (B, T, F, W)
    return patches


class LogMel(nn.Module):
    """Waveform (B, N) at 16 kHz → log-Mel energies (B, T, 40), T = n_frames(N)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(WIN_LENGTH, periodic=True), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank()), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.unfold(-1, WIN_LENGTH, HOP_LENGTH) * self.window  # (B, T, 400)
        power = torch.fft.rfft(frames, n=N_FFT).abs().pow(2)  # (B, T, 257)
        return torch.log(power @ self.mel.T + LOG_FLOOR)  # (B, T, 40)


class FrontEnd(nn.Module):
    """The feature front-end a model sees: ``waveform``, ``logmel`` or ``mfcc``.

    forward(wave: (B, N)) → ``logmel`` (B, T, 40), ``mfcc`` (B, T, 13), each
    mean/variance normalised per utterance; ``waveform`` returns (B, N)
    scaled to unit RMS per utterance.
    """

    def __init__(self, kind: FeatureKind = "logmel", normalize: bool = True) -> None:
        super().__init__()
        if kind not in ("waveform", "logmel", "mfcc"):
            raise ValueError(f"unknown feature kind {kind!r}")
        self.kind = kind
        self.normalize = normalize
        self.logmel = LogMel()
        self.register_buffer("dct", torch.from_numpy(dct_matrix()), persistent=False)

    @property
    def n_features(self) -> int:
        return {"waveform": 1, "logmel": N_MELS, "mfcc": N_MFCC}[self.kind]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.kind == "waveform":
            if not self.normalize:
                return wave
            return wave / (wave.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-5)
        x = self.logmel(wave)  # (B, T, 40)
        if self.kind == "mfcc":
            x = x @ self.dct.T  # (B, T, 13): Eq. 12 as a fixed spectral convolution
        return cmvn(x) if self.normalize else x


def compute(wave: np.ndarray, kind: FeatureKind, normalize: bool = False) -> np.ndarray:
    """NumPy convenience for display: (N,) samples → (T, F) features (un-normalised by default)."""
    with torch.no_grad():
        out = FrontEnd(kind, normalize=normalize)(torch.from_numpy(np.asarray(wave, np.float32))[None])
    return out[0].numpy()
