"""User-facing errors.

Anything a user can cause (a bad file, a wrong folder, a tampered checkpoint)
raises a subclass of :class:`CrnnError` whose message is one plain sentence.
The CLI prints it and exits with code 2; the app shows it with ``st.error``.
"""


class CrnnError(Exception):
    """A problem with the user's input, reported as one line, never a traceback."""


class AudioError(CrnnError):
    """An audio file that cannot be used (unreadable, empty, silent, too short or long)."""


class CorpusError(CrnnError):
    """A corpus folder or manifest that cannot be read."""


class CheckpointError(CrnnError):
    """A missing, tampered or mismatched checkpoint."""
