"""CRNN Lens: look inside convolutional-recurrent speech emotion models."""

__version__ = "0.1.0"
