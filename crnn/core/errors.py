"""User-facing errors.

Anything a user can cause (a bad file, a wrong folder, a tampered checkpoint)
raises a subclass of :class:`CrnnError` whose message is one plain sentence.
The CLI prints it and exits with code 2; the app shows it with ``st.error``.
"""


def one_line(message: str) -> str:
    """``message`` as one line of plain text: a control character (a newline or an escape code in a file's
    name, say) is shown as its backslash escape, so it can neither break the line nor drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when the message is empty): library errors
    such as PyTorch's can run over several lines, and a user's message is one."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class CrnnError(Exception):
    """A problem with the user's input, reported as one line, never a traceback."""


class AudioError(CrnnError):
    """An audio file that cannot be used (unreadable, empty, silent, too short or long)."""


class CorpusError(CrnnError):
    """A corpus folder or manifest that cannot be read."""


class CheckpointError(CrnnError):
    """A missing, tampered or mismatched checkpoint."""
