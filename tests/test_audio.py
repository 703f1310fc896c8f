"""The one audio loader: each refusal, downmix, resampling, every source kind and format."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

from crnn.core.audio import SAMPLE_RATE, is_audio_file, load_audio
from crnn.core.errors import AudioError, CrnnError


def tone(freq: float = 440.0, seconds: float = 1.0, rate: int = SAMPLE_RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)])


def write(path, data, rate=SAMPLE_RATE, **kwargs):
    sf.write(str(path), data, rate, **kwargs)
    return path


def refusal(source, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, CrnnError)
    return message


def test_reads_wav_as_float32_mono_at_16k(tmp_path):
    wave = load_audio(write(tmp_path / "a.wav", tone(seconds=0.5)))
    assert wave.dtype == np.float32 and wave.ndim == 1 and len(wave) == 8000
    np.testing.assert_allclose(wave, tone(seconds=0.5), atol=1e-4)  # 16-bit PCM quantisation


def test_missing_file(tmp_path):
    assert "missing.wav: no such file" in refusal(tmp_path / "missing.wav")


def test_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n")
    assert "notes.wav" in refusal(path) and "not a readable audio file" in refusal(path)
    assert "not a readable audio file" in refusal(b"\x00\x01garbage" * 10, name="upload")


def test_empty(tmp_path):
    message = refusal(write(tmp_path / "empty.wav", np.zeros(0, np.float32)))
    assert message == "empty.wav: the file holds no audio samples"


def test_too_short(tmp_path):
    assert "shorter than 0.25 s" in refusal(write(tmp_path / "short.wav", tone(seconds=0.2)))
    assert len(load_audio(write(tmp_path / "ok.wav", tone(seconds=0.25)))) == 4000


def test_all_silent(tmp_path):
    assert "silent" in refusal(write(tmp_path / "zeros.wav", np.zeros(16000, np.float32)))
    quiet = tone(amp=5e-5)  # peak below -80 dBFS
    assert "silent" in refusal(write(tmp_path / "quiet.wav", quiet, subtype="FLOAT"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf(tmp_path, bad):
    wave = tone()
    wave[100] = bad
    assert "NaN or infinite" in refusal(write(tmp_path / "bad.wav", wave, subtype="FLOAT"))


def test_samples_far_beyond_full_scale_are_refused_and_unscaled_int16_values_kept(tmp_path):
    # 1e30 is finite as float32, but its squared frame energies are not: the model answered "anger (nan%)"
    assert "far beyond full scale" in refusal(write(tmp_path / "loud.wav", tone() * 1e30, subtype="FLOAT"))
    unscaled = tone(amp=1.0) * 32767  # int16 values written into a float file without scaling
    wave = load_audio(write(tmp_path / "unscaled.wav", unscaled, subtype="FLOAT"))
    np.testing.assert_allclose(wave, unscaled, rtol=1e-6)


def test_over_the_cap(tmp_path):
    path = write(tmp_path / "long.wav", tone(seconds=2.0))
    assert "longer than the 1 s limit" in refusal(path, max_seconds=1.0)
    assert len(load_audio(path, max_seconds=3.0)) == 32000


def test_stereo_is_averaged(tmp_path):
    left, right = tone(440.0), tone(1000.0, amp=0.25)
    wave = load_audio(write(tmp_path / "stereo.wav", np.stack([left, right], 1), subtype="FLOAT"))
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-6)


def test_resampling_keeps_frequency(tmp_path):
    wave = load_audio(write(tmp_path / "cd.wav", tone(440.0, rate=44_100), rate=44_100))
    assert abs(len(wave) - SAMPLE_RATE) <= 1
    assert abs(peak_hz(wave) - 440.0) <= 1.0
    # amplitude survives the anti-alias filter (the tone is far below 8 kHz)
    assert abs(np.sqrt(np.mean(wave[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_bytes_and_file_objects(tmp_path):
    path = write(tmp_path / "a.flac", tone(seconds=0.5))
    expected = load_audio(path)
    np.testing.assert_array_equal(load_audio(path.read_bytes()), expected)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(load_audio(fh), expected)
    np.testing.assert_array_equal(load_audio(io.BytesIO(path.read_bytes())), expected)
    assert "clip.flac" in refusal(io.BytesIO(b"nope" * 100), name="clip.flac")


@pytest.mark.parametrize("suffix, fmt, subtype", [(".ogg", "OGG", "VORBIS"), (".mp3", "MP3", "MPEG_LAYER_III")])
def test_compressed_formats(tmp_path, suffix, fmt, subtype):
    path = tmp_path / f"a{suffix}"
    try:
        sf.write(str(path), tone(440.0, rate=22_050), 22_050, format=fmt, subtype=subtype)
    except Exception as exc:  # libsndfile built without this codec
        pytest.skip(f"soundfile cannot write {fmt}: {exc}")
    wave = load_audio(path)
    assert abs(len(wave) - SAMPLE_RATE) < 0.05 * SAMPLE_RATE  # codec padding/priming may add a little
    assert abs(peak_hz(wave) - 440.0) <= 2.0


def test_is_audio_file():
    assert is_audio_file("x/a.WAV") and is_audio_file("b.flac") and is_audio_file("c.mp3")
    assert not is_audio_file("d.avi") and not is_audio_file("e.txt")


# --- hardening (issue 12) -----------------------------------------------------------------------


def test_a_constant_signal_is_silent_and_an_offset_tone_is_kept(tmp_path):
    """A DC-only file used to reach the model (and be called "sadness"); now it is refused as silent."""
    constant = np.full(SAMPLE_RATE, 0.3, np.float32)
    assert "silent" in refusal(write(tmp_path / "dc.wav", constant, subtype="FLOAT"))
    assert "silent" in refusal(write(tmp_path / "dc48k.wav", np.full(48_000, -0.2, np.float32), rate=48_000, subtype="FLOAT"))
    wave = load_audio(write(tmp_path / "offset.wav", tone() + 0.25, subtype="FLOAT"))
    np.testing.assert_allclose(wave, tone() + 0.25, atol=1e-6)  # samples as recorded; silence is judged without DC


def test_a_folder_is_named_a_folder(tmp_path):
    (tmp_path / "clips.wav").mkdir()
    assert refusal(tmp_path / "clips.wav") == "clips.wav is a folder, not an audio file"


def test_a_pipe_or_a_dangling_link_is_named_for_what_it_is(tmp_path):
    """A named pipe would block a reader for ever: it is refused before anything opens it, and not as missing."""
    os.mkfifo(tmp_path / "pipe.wav")
    assert refusal(tmp_path / "pipe.wav") == "pipe.wav: not a regular file (a device, pipe or socket)"
    (tmp_path / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    for link in ("gone.wav", "a.wav"):
        assert refusal(tmp_path / link) == f"{link}: a link to nothing (its target is missing or the links loop)"


def test_messages_do_not_show_server_folders(tmp_path):
    message = refusal(tmp_path / "deep" / "missing.wav")
    assert str(tmp_path) not in message and message == "missing.wav: no such file"


def test_header_cap_on_samples_over_all_channels(tmp_path, monkeypatch):
    """Rate × channels × duration is capped from the header, before anything is decoded."""
    import crnn.core.audio as audio

    path = write(tmp_path / "wide.wav", np.zeros((16_000, 8), np.float32) + tone()[:, None])
    monkeypatch.setattr(audio, "MAX_DECODED_SAMPLES", 100_000)  # the file holds 128,000 samples
    monkeypatch.setattr(audio.sf.SoundFile, "read", lambda *a, **k: pytest.fail("decoded despite the cap"))
    message = refusal(path)
    assert message.startswith("wide.wav: 8 channels") and "too large to decode" in message


def test_decoding_memory_is_bounded_by_the_result(tmp_path):
    """8 channels at 96 kHz: the decoded float32 file (12 MB) is never held at once, only the 16 kHz result."""
    import tracemalloc

    rate, channels, seconds = 96_000, 8, 4
    path = tmp_path / "wide.flac"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", rate, channels, subtype="PCM_16") as fh:
        for _ in range(seconds):
            fh.write((0.1 * rng.standard_normal((rate, channels))).astype(np.float32))
    tracemalloc.start()
    try:
        wave = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    decoded = rate * channels * seconds * 4
    assert len(wave) == SAMPLE_RATE * seconds
    assert peak < decoded / 4, f"peak {peak / 1e6:.1f} MB while decoding {decoded / 1e6:.1f} MB"


def test_block_resampling_matches_soxr_hq(tmp_path):
    """Streaming the resampler block by block gives soxr's one-shot high-quality result."""
    import soxr

    rate = 44_100
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 3 * rate).astype(np.float32)
    wave = load_audio(write(tmp_path / "noise.wav", x, rate=rate, subtype="FLOAT"))
    expected = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    assert len(wave) == len(expected)
    np.testing.assert_allclose(wave, expected, atol=1e-6)
