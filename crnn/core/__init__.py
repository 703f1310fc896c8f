"""What a model and a corpus are: audio, features, models, checkpoints, corpora, splits, noise, prosody."""
