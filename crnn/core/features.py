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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from torch import nn

from crnn.core.defaults import SAMPLE_RATE

N_MELS = 40
N_MFCC = 13
WIN_LENGTH = 400  # samples: 25 ms at 16 kHz
HOP_LENGTH = 160  # samples: 10 ms at 16 kHz
N_FFT = 512
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH  # 100 frames per second
LOG_FLOOR = 1e-6  # added to Mel power before the log, so silence stays finite
# "absolute": LOG_FLOOR itself, as every model before round 15 was trained; it sits about 54 dB below a typical
# RAVDESS clip's strongest Mel band, so a quieter recording has more of its bands at the floor and the features
# move with the recording level. "relative": LOG_FLOOR times the utterance's strongest Mel band power, so a gain
# shifts every log-Mel by one constant, which every normalisation removes.
LOG_FLOORS = ("absolute", "relative")

FeatureKind = Literal["waveform", "logmel", "mfcc"]


def n_frames(n_samples: int) -> int:
    """Number of 25 ms / 10 ms frames in ``n_samples`` samples (no edge padding, as Kaldi)."""
    return max(0, 1 + (n_samples - WIN_LENGTH) // HOP_LENGTH)


def frame_times(n: int) -> np.ndarray:
    """Centre time in seconds of each of ``n`` frames."""
    return (np.arange(n) * HOP_LENGTH + WIN_LENGTH / 2) / SAMPLE_RATE


def mel_filterbank() -> np.ndarray:
    """Triangular HTK-style Mel filters, 20 Hz to 8 kHz, shape (40, N_FFT // 2 + 1).

    The same numbers as ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=40,
    fmin=20, fmax=8000, htk=True)`` (Slaney area normalisation), computed here
    so that building a model does not import librosa (and numba): a cold
    ``crnn predict`` pays seconds for that import.
    """
    n_bins = N_FFT // 2 + 1
    fft_hz = np.fft.rfftfreq(n=N_FFT, d=1.0 / SAMPLE_RATE)
    mels = np.linspace(2595.0 * np.log10(1.0 + 20.0 / 700.0), 2595.0 * np.log10(1.0 + (SAMPLE_RATE / 2) / 700.0), N_MELS + 2)
    mel_hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    spacing = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    weights = np.zeros((N_MELS, n_bins), dtype=np.float32)
    for i in range(N_MELS):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / spacing[i], ramps[i + 2] / spacing[i + 1]))
    weights *= (2.0 / (mel_hz[2 : N_MELS + 2] - mel_hz[:N_MELS]))[:, np.newaxis]
    return weights


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
    """Waveform (B, N) at 16 kHz → log-Mel energies (B, T, 40), T = n_frames(N).

    ``floor`` (:data:`LOG_FLOORS`): what is added to the Mel power before the log. "absolute" adds
    :data:`LOG_FLOOR`; "relative" adds :data:`LOG_FLOOR` × the utterance's largest Mel power (−60 dB), so
    that the output moves by a constant when the input gain changes (zero-padded frames do not change it).
    """

    def __init__(self, floor: str = "absolute") -> None:
        super().__init__()
        # device="cpu" even when the loader builds on the meta device to check a card: there hann_window would go
        # through torch's decompositions, which import torch._dynamo and sympy (two seconds of every cold start).
        self.register_buffer("window", torch.hann_window(WIN_LENGTH, periodic=True, device="cpu"), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank()), persistent=False)
        self.floor = floor

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.unfold(-1, WIN_LENGTH, HOP_LENGTH) * self.window  # (B, T, 400)
        power = torch.fft.rfft(frames, n=N_FFT).abs().pow(2) @ self.mel.T  # (B, T, 40)
        if self.floor == "relative":
            peak = power.amax(dim=(-2, -1), keepdim=True).detach()  # (B, 1, 1); a constant for the gradients
            return torch.log(power + LOG_FLOOR * peak + 1e-30)  # 1e-30: an all-zero input stays finite
        return torch.log(power + LOG_FLOOR)  # (B, T, 40)


NORMS = ("utterance", "global", "speaker", "none")


class FrontEnd(nn.Module):
    """The feature front-end a model sees: ``waveform``, ``logmel`` or ``mfcc``.

    forward(wave: (B, N)) → ``logmel`` (B, T, 40) or ``mfcc`` (B, T, 13),
    normalised per band according to ``norm``; ``waveform`` returns (B, N)
    scaled to unit RMS per utterance (a gain normalisation; every waveform
    model uses it).

    ``norm`` says whose statistics standardise each band:

    - ``"utterance"``: the utterance's own mean and std over time (CMVN).
      Removes level and spectral-balance cues along with channel effects.
    - ``"global"``: a reference mean and std per band (from the training
      set, stored in the checkpoint's card), after subtracting the
      utterance's mean log-energy over all bands and frames: the recording
      gain is removed, spectral shape and dynamics are kept.
    - ``"speaker"``: a reference from the speaker's own utterances (same
      gain removal), given with :meth:`reference`; without it the utterance's
      own statistics are used, which is then the same as ``"utterance"``.
    - ``"none"``: raw log-Mels.

    None of these removes the recording level on its own: with the default
    absolute log floor (:data:`LOG_FLOORS`) a quieter recording has more
    bands at the floor. :meth:`set_floor` ``("relative")`` (``crnn train --set
    log_floor=relative``, written to the card) makes a gain one constant
    shift of the log-Mels, which each normalisation then removes.

    During training ``augment`` (set by the trainer) applies SpecAugment-style
    time and frequency masks after normalisation; in eval mode it is inert.
    """

    def __init__(self, kind: FeatureKind = "logmel", normalize: bool = True) -> None:
        super().__init__()
        if kind not in ("waveform", "logmel", "mfcc"):
            raise ValueError(f"unknown feature kind {kind!r}")
        self.kind = kind
        self.norm = "utterance" if normalize else "none"
        self.logmel = LogMel()
        self.register_buffer("dct", torch.from_numpy(dct_matrix()), persistent=False)
        self.register_buffer("ref_mean", torch.zeros(self.n_features), persistent=False)
        self.register_buffer("ref_std", torch.ones(self.n_features), persistent=False)
        self._speaker_ref: tuple[torch.Tensor, torch.Tensor] | None = None
        self.augment: dict | None = None

    @property
    def normalize(self) -> bool:
        return self.norm != "none"

    @property
    def n_features(self) -> int:
        return {"waveform": 1, "logmel": N_MELS, "mfcc": N_MFCC}[self.kind]

    def raw(self, wave: torch.Tensor) -> torch.Tensor:
        """Un-normalised features: (B, N) → (B, T, F) log-Mels or MFCCs; waveforms pass through."""
        if self.kind == "waveform":
            return wave
        x = self.logmel(wave)  # (B, T, 40)
        if self.kind == "mfcc":
            x = x @ self.dct.T  # (B, T, 13): Eq. 12 as a fixed spectral convolution
        return x

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.kind == "waveform":
            if self.norm == "none":
                return wave
            return wave / (wave.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-5)
        x = self.standardise(self.raw(wave))
        if self.training and self.augment:
            x = spec_augment(x, **self.augment)
        return x

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Apply this front-end's normalisation to raw features x (B, T, F)."""
        if self.norm == "none":
            return x
        if self.norm == "utterance" or (self.norm == "speaker" and self._speaker_ref is None):
            return cmvn(x)
        mean, std = self._speaker_ref if self.norm == "speaker" else (self.ref_mean, self.ref_std)
        if mean.dim() == 2:  # one reference per utterance: (B, F) → (B, 1, F)
            mean, std = mean[:, None, :], std[:, None, :]
        return (remove_gain(x) - mean.to(x)) / (std.to(x) + 1e-5)

    def set_norm(self, norm: str, mean=None, std=None) -> None:
        """Choose the normalisation; ``mean``/``std`` (F,) are the reference for ``"global"``."""
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation {norm!r}; use one of {', '.join(NORMS)}")
        self.norm = norm
        if mean is not None:
            self.ref_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.ref_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def set_floor(self, floor: str) -> None:
        """Choose the log floor (:data:`LOG_FLOORS`); waveform front-ends have none and ignore it."""
        if floor not in LOG_FLOORS:
            raise ValueError(f"unknown log floor {floor!r}; use one of {', '.join(LOG_FLOORS)}")
        self.logmel.floor = floor

    def norm_card(self) -> dict:
        """The normalisation as JSON for a checkpoint card (the log floor only when it is not the old absolute one)."""
        card = {"norm": self.norm}
        if self.logmel.floor != "absolute" and self.kind != "waveform":
            card["floor"] = self.logmel.floor
        if self.norm == "global" and self.kind != "waveform":
            card["mean"] = [round(float(v), 6) for v in self.ref_mean]
            card["std"] = [round(float(v), 6) for v in self.ref_std]
        return card

    def load_norm_card(self, card: dict | None) -> None:
        """Restore the normalisation written by :meth:`norm_card`; old cards mean per-utterance."""
        card = card or {}
        self.set_norm(card.get("norm", "utterance" if self.norm != "none" else "none"), card.get("mean"), card.get("std"))
        self.set_floor(card.get("floor", "absolute"))

    @contextmanager
    def reference(self, mean: torch.Tensor, std: torch.Tensor) -> Iterator[None]:
        """Within the block, ``"speaker"`` normalisation uses this mean and std: (F,) for all, or (B, F) per utterance."""
        previous, self._speaker_ref = self._speaker_ref, (torch.as_tensor(mean), torch.as_tensor(std))
        try:
            yield
        finally:
            self._speaker_ref = previous


def remove_gain(x: torch.Tensor) -> torch.Tensor:
    """Subtract each utterance's mean over all frames and bands: x (B, T, F) log-energies, gain-free."""
    return x - x.mean(dim=(1, 2), keepdim=True)


def reference_stats(features: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std (F,) over a list of raw (T, F) feature arrays, after gain removal."""
    frames = np.concatenate([f - f.mean() for f in features], axis=0)
    return frames.mean(axis=0).astype(np.float32), frames.std(axis=0).astype(np.float32)


def spec_augment(x: torch.Tensor, time_masks: int = 2, time_width: int = 20, freq_masks: int = 2, freq_width: int = 6) -> torch.Tensor:
    """SpecAugment-style masks on normalised features x (B, T, F): zero random time and band stripes.

    Widths are maxima, in frames (10 ms) and bands; each utterance draws its own.
    """
    B, T, F = x.shape
    keep = torch.ones_like(x)
    for _ in range(time_masks):
        width = torch.randint(0, time_width + 1, (B,))
        start = (torch.rand(B) * (T - width).clamp(min=1)).long()
        idx = torch.arange(T)[None, :]
        keep *= ~((idx >= start[:, None]) & (idx < (start + width)[:, None]))[:, :, None]
    for _ in range(freq_masks):
        width = torch.randint(0, freq_width + 1, (B,))
        start = (torch.rand(B) * (F - width).clamp(min=1)).long()
        idx = torch.arange(F)[None, :]
        keep *= ~((idx >= start[:, None]) & (idx < (start + width)[:, None]))[:, None, :]
    return x * keep


def compute(wave: np.ndarray, kind: FeatureKind, normalize: bool = False) -> np.ndarray:
    """NumPy convenience for display: (N,) samples → (T, F) features (un-normalised by default)."""
    with torch.no_grad():
        out = FrontEnd(kind, normalize=normalize)(torch.from_numpy(np.asarray(wave, np.float32))[None])
    return out[0].numpy()
