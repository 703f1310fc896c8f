"""Computations over (model, waveform or corpus): evaluation, training, baselines, probes, cells, attributions."""
