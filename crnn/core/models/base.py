"""The contract every speech emotion model in crnn follows.

A model maps a 16 kHz waveform (B, N) to class logits (B, C). Its feature
front-end (:class:`crnn.core.features.FrontEnd`) is a submodule, so gradients
reach the waveform. ``module_outputs`` exposes the stages the interpretability
tools probe (paper 001 Sec. 7.4 / Table 5: input, CNN, RNN, MLP) from one
forward pass; ``forward`` is its "logits" entry, so the two never diverge.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

import numpy as np

from crnn.core.audio import SAMPLE_RATE
from crnn.core.features import HOP_LENGTH, FeatureKind, FrontEnd
from crnn.core.hooks import this_thread_only
from crnn.core.lstm import LSTMStates, lstm_states

MODULE_NAMES = ("input", "cnn", "rnn", "mlp", "logits")


def wave_frames(wave: Tensor) -> Tensor:
    """(B, N) waveform → (B, N // 160, 160): consecutive 10 ms frames, the tail dropped.

    The "input" module of waveform models, on the same 100 Hz grid as the
    log-Mel frames.
    """
    B, N = wave.shape
    T = N // HOP_LENGTH
    return wave[:, : T * HOP_LENGTH].reshape(B, T, HOP_LENGTH)


class SERModel(nn.Module):
    """Base class: waveform (B, N) float32 at 16 kHz → logits (B, n_classes).

    Subclasses set ``self.frontend = FrontEnd(kind)``, call
    ``self._save_config(locals())`` first thing in ``__init__`` (after
    ``super().__init__()``), and implement :meth:`module_outputs`.

    Attributes:
        n_classes: number of output classes.
        feature_kind: what the front-end computes ("waveform", "logmel", "mfcc").
        config: the constructor's keyword arguments (JSON-friendly), so that
            ``build_model(name, n_classes, **model.config)`` rebuilds it.
    """

    n_classes: int
    feature_kind: FeatureKind
    config: dict[str, Any]
    frontend: FrontEnd

    def _save_config(self, args: dict[str, Any]) -> None:
        params = inspect.signature(type(self).__init__).parameters
        self.n_classes = int(args["n_classes"])
        self.config = {
            k: list(args[k]) if isinstance(args[k], tuple) else args[k]
            for k in params
            if k not in ("self", "n_classes")
        }

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        """Every stage's output from one forward pass, in order.

        wave: (B, N). Returns "input" (B, T, F) the features the model sees
        (waveform models: the normalised wave as 10 ms frames, (B, T, 160)),
        "cnn" (B, T', D) the convolutional stage flattened per time step
        (absent in models without one), "rnn" (B, T'', D) the last recurrent
        layer (directions concatenated), "mlp" (B, D) the last hidden layer
        before the output layer, "logits" (B, n_classes).
        """
        raise NotImplementedError

    def forward(self, wave: Tensor) -> Tensor:
        """wave (B, N) float32 at 16 kHz → logits (B, n_classes)."""
        return self.module_outputs(wave)["logits"]

    def recurrent_layers(self) -> dict[str, nn.Module]:
        """The recurrent submodules whose time axis is the utterance's, by display name.

        Default: every ``nn.LSTM`` submodule under its module path (a model's
        ``self.rnn`` is "rnn"). Models override it to drop LSTMs that do not
        run along the utterance, or to add modules with a ``states(x) ->
        list[LSTMStates]`` method (paper 000's window layers).
        """
        return {name: m for name, m in self.named_modules() if isinstance(m, nn.LSTM)}

    def _fold_states(self, name: str, states: LSTMStates, batch: int) -> LSTMStates:
        """Reshape one layer's states to (B, T, D, H); identity unless an LSTM batches B×something."""
        return states

    @torch.no_grad()
    def lstm_states(self, wave: Tensor) -> dict[str, LSTMStates]:
        """States and gates of every utterance-time LSTM layer, "<name>.layer<k>" → LSTMStates.

        One forward pass with hooks captures each LSTM's input; then
        :func:`crnn.core.lstm.lstm_states` recomputes h, c, i, f, g, o per step.
        ``frame_rate`` (Hz) = T / (N / 16000). Call on a model in eval mode.
        """
        layers = self.recurrent_layers()
        captured: dict[str, Tensor] = {}

        def capture(name: str):
            def hook(module: nn.Module, args: tuple, output: object) -> None:
                captured.setdefault(name, args[0])  # a hook returning a value would replace the output

            return hook

        handles = [module.register_forward_hook(this_thread_only(capture(name))) for name, module in layers.items()]
        try:
            self.module_outputs(wave)
        finally:
            for handle in handles:
                handle.remove()
        seconds = wave.shape[-1] / SAMPLE_RATE
        result: dict[str, LSTMStates] = {}
        for name, x in captured.items():
            module = layers[name]
            per_layer = lstm_states(module, x) if isinstance(module, nn.LSTM) else module.states(x)
            for k, states in enumerate(per_layer):
                states = self._fold_states(name, states, wave.shape[0])
                result[f"{name}.layer{k}"] = replace(states, frame_rate=states.h.shape[1] / seconds)
        return result

    def first_layer_filters(self) -> dict[str, Any] | None:
        """The learned filters of the first convolution after the front-end, or None if there is none.

        Convolutions here see spectral features as (B, C, frequency, time) and
        the waveform as (B, C, samples); a model laid out otherwise overrides
        this. Returns {"layer": module path, "weights": float32 array
        (n_filters, frequency, time) or (n_filters, samples) for the single
        input channel, "axes": ("frequency", "time") or ("time",),
        "frequency_unit" ("Mel band" / "MFCC coefficient", None for
        waveforms), "time_step_s" (seconds per step along time: 0.01 for
        frames, 1/16000 for samples), "kind" ("spectral", "temporal",
        "spectro-temporal", "full-spectrum" or "waveform"), "description"}.
        Spectral filters on log-Mels compare with the DCT basis of paper 001
        Eq. 12 (:func:`crnn.core.features.dct_matrix` of as many bands).
        """
        found = next(((name, m) for name, m in self.named_modules()
                      if isinstance(m, (nn.Conv1d, nn.Conv2d)) and not name.startswith("frontend")), None)
        if found is None:
            return None
        name, conv = found
        weights = conv.weight.detach().cpu().float().numpy()
        if weights.shape[1] != 1:
            raise ValueError(f"{name} has {weights.shape[1]} input channels; the first layer should see one")
        weights = np.ascontiguousarray(weights[:, 0])  # (n_filters, *kernel)
        n = len(weights)
        if isinstance(conv, nn.Conv1d):
            if self.feature_kind != "waveform":
                raise ValueError(f"{name} is a 1-D convolution on {self.feature_kind} features; override first_layer_filters")
            taps = weights.shape[1]
            return {"layer": name, "weights": weights, "axes": ("time",), "frequency_unit": None,
                    "time_step_s": 1 / SAMPLE_RATE, "kind": "waveform",
                    "description": f"{n} waveform filters of {taps} samples ({1000 * taps / SAMPLE_RATE:.1f} ms)"}
        bands, frames = weights.shape[1:]
        unit = "MFCC coefficient" if self.feature_kind == "mfcc" else "Mel band"
        if bands == self.frontend.n_features:
            kind = "full-spectrum"
        elif frames == 1:
            kind = "spectral"
        elif bands == 1:
            kind = "temporal"
        else:
            kind = "spectro-temporal"
        return {"layer": name, "weights": weights, "axes": ("frequency", "time"), "frequency_unit": unit,
                "time_step_s": HOP_LENGTH / SAMPLE_RATE, "kind": kind,
                "description": f"{n} {kind} filters of {bands} {unit}{'s' if bands > 1 else ''} × "
                               f"{frames} frame{'s' if frames > 1 else ''} (10 ms each)"}

    @classmethod
    def deviations_for(cls, config: dict[str, Any]) -> list[str]:
        """The departures from the model's paper of a model built with ``config`` (its constructor arguments).

        One short sentence each, for the checkpoint card and ``crnn models``;
        the class docstring explains them. ``config`` may omit arguments
        (their class defaults apply).
        """
        return []

    def deviations(self) -> list[str]:
        """:meth:`deviations_for` of this model's own configuration."""
        return type(self).deviations_for(self.config)

    def extra_repr(self) -> str:
        return f"n_classes={self.n_classes}, feature_kind={self.feature_kind!r}"


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Fully connected ReLU layers of the given sizes, e.g. [256, 128, 32, 32] (paper 001's FC stack)."""
    layers: list[nn.Module] = []
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return nn.Sequential(*layers)
