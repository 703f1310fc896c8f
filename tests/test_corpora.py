"""Every corpus reader on tiny fixtures written to tmp_path, the refusals, and RAVDESS itself."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from crnn.core.corpora import EMOTIONS, Corpus, canonical_label, describe, read_corpus
from crnn.core.errors import CorpusError

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"


def make_wav(path: Path, seconds: float = 0.3, rate: int = 16_000) -> Path:
    """A short tone; the corpus readers only look at headers, so content hardly matters."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), 0.1 * np.sin(2 * np.pi * 220 * t), rate)
    return path


def make_files(root: Path, names: list[str], **kwargs) -> Path:
    for name in names:
        make_wav(root / name, **kwargs)
    return root


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n")
    return path


def by_name(corpus: Corpus) -> dict:
    return {u.path.name: u for u in corpus.utterances}


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, label",
    [
        ("angry", "anger"), ("ANG", "anger"), ("W", "anger"), ("an", "anger"),
        ("happy", "happiness"), ("HAP", "happiness"), ("F", "happiness"),
        ("fearful", "fear"), ("A", "fear"), ("sad", "sadness"), ("T", "sadness"),
        ("ps", "surprise"), ("Pleasant_surprised", "surprise"), ("surprised", "surprise"),
        ("L", "boredom"), ("E", "disgust"), ("DIS", "disgust"), ("N", "neutral"), ("NEU", "neutral"),
        ("calm", "calm"), ("exc", "excitement"), ("fru", "frustration"), (" Neutral ", "neutral"),
    ],
)  # fmt: skip
def test_canonical_label(name, label):
    assert canonical_label(name) == label


def test_canonical_label_is_idempotent_and_refuses_unknown():
    assert all(canonical_label(e) == e for e in EMOTIONS)
    with pytest.raises(CorpusError, match="unknown emotion label 'contempt'"):
        canonical_label("contempt")


# --- readers ------------------------------------------------------------------------------------


def test_ravdess(tmp_path):
    names = [f"Actor_01/03-01-{e:02d}-01-01-01-01.wav" for e in range(1, 9)]
    names += ["Actor_02/03-01-05-02-02-01-02.flac", "Actor_02/notes.wav"]
    corpus = read_corpus(make_files(tmp_path, names))
    assert corpus.name == "ravdess" and len(corpus) == 9
    utts = by_name(corpus)
    assert [utts[Path(n).name].emotion for n in names[:8]] == [
        "neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise",
    ]  # fmt: skip
    assert {(u.speaker, u.gender) for u in corpus.utterances} == {("01", "male"), ("02", "female")}
    assert utts["03-01-05-02-02-01-02.flac"].duration == pytest.approx(0.3)
    assert corpus.unreadable == ["Actor_02/notes.wav: name does not follow RAVDESS's 03-01-EE-II-SS-RR-AA pattern"]


@pytest.mark.parametrize("subfolder", ["wav", ""])
def test_emodb_any_rate(tmp_path, subfolder):
    make_wav(tmp_path / subfolder / "03a01Wa.wav", rate=16_000)
    make_wav(tmp_path / subfolder / "08b02Tb.wav", rate=48_000)
    make_wav(tmp_path / subfolder / "16a05Lc.wav", rate=22_050)
    corpus = read_corpus(tmp_path)
    assert corpus.name == "emodb"
    got = {u.path.name: (u.speaker, u.gender, u.emotion, round(u.duration, 3)) for u in corpus.utterances}
    assert got == {
        "03a01Wa.wav": ("03", "male", "anger", 0.3),
        "08b02Tb.wav": ("08", "female", "sadness", 0.3),
        "16a05Lc.wav": ("16", "female", "boredom", 0.3),
    }


def test_crema_d_gender_unknown_without_demographics(tmp_path):
    make_files(tmp_path, ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav"])
    corpus = read_corpus(tmp_path)
    assert corpus.name == "crema-d"
    assert {(u.speaker, u.gender, u.emotion) for u in corpus.utterances} == {
        ("1001", "unknown", "anger"), ("1002", "unknown", "happiness"),
    }  # fmt: skip


def test_crema_d_demographics_and_duplicate_formats(tmp_path):
    make_files(tmp_path, ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1091_TIE_SAD_LO.wav"])
    make_files(tmp_path, ["AudioFLAC/1001_DFA_ANG_XX.flac"])  # the same recording in another format
    write_csv(
        tmp_path / "VideoDemographics.csv",
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1091,29,Female,Asian,Not Hispanic",
    )
    corpus = read_corpus(tmp_path)
    assert corpus.name == "crema-d" and len(corpus) == 2
    assert {(u.path.name, u.gender, u.emotion) for u in corpus.utterances} == {
        ("1001_DFA_ANG_XX.wav", "male", "anger"), ("1091_TIE_SAD_LO.wav", "female", "sadness"),
    }  # fmt: skip


def test_tess(tmp_path):
    names = [
        "OAF_angry/OAF_back_angry.wav",
        "YAF_pleasant_surprised/YAF_dog_ps.wav",
        "OAF_Fear/OAF_bite_fear.wav",
        "YAF_sad/YAF_word.wav",  # emotion only in the folder name
        "OAF_neutral/OA_bite_neutral.wav",  # as misnamed in the release
    ]
    corpus = read_corpus(make_files(tmp_path, names))
    assert corpus.name == "tess" and not corpus.unreadable
    got = {u.path.name: (u.speaker, u.gender, u.emotion) for u in corpus.utterances}
    assert got == {
        "OAF_back_angry.wav": ("OAF", "female", "anger"),
        "YAF_dog_ps.wav": ("YAF", "female", "surprise"),
        "OAF_bite_fear.wav": ("OAF", "female", "fear"),
        "YAF_word.wav": ("YAF", "female", "sadness"),
        "OA_bite_neutral.wav": ("OAF", "female", "neutral"),
    }


def test_enterface(tmp_path):
    make_files(
        tmp_path,
        [
            "subject 1/anger/sentence 1/s1_an_1.wav",
            "subject 1/surprise/sentence 2/s1_su_2.wav",
            "subject 12/happiness/sentence 3/s12_ha_3.wav",
        ],
    )
    (tmp_path / "subject 1/anger/sentence 1/s1_an_1.avi").write_bytes(b"video")  # its audio is beside it
    (tmp_path / "subject 12/fear/sentence 1").mkdir(parents=True)
    (tmp_path / "subject 12/fear/sentence 1/s12_fe_1.avi").write_bytes(b"video")  # not extracted yet
    corpus = read_corpus(tmp_path)
    assert corpus.name == "enterface"
    got = {u.path.name: (u.speaker, u.gender, u.emotion) for u in corpus.utterances}
    assert got == {
        "s1_an_1.wav": ("01", "unknown", "anger"),
        "s1_su_2.wav": ("01", "unknown", "surprise"),
        "s12_ha_3.wav": ("12", "unknown", "happiness"),
    }
    assert len(corpus.unreadable) == 1 and "s12_fe_1.avi: a video file" in corpus.unreadable[0]


def test_enterface_video_only_is_refused(tmp_path):
    folder = tmp_path / "subject 3/disgust/sentence 1"
    folder.mkdir(parents=True)
    (folder / "s3_di_1.avi").write_bytes(b"video")
    with pytest.raises(CorpusError, match="extract its audio track"):
        read_corpus(tmp_path)


def test_folder_per_label(tmp_path):
    names = ["Angry/x.wav", "happy/y.wav", "Sad/z.wav", "Sad/w.wav", "train/Sad/x.wav", "train/Happy/x.flac"]
    corpus = read_corpus(make_files(tmp_path, names))
    assert corpus.name == "folders" and len(corpus) == 6  # same names in other folders are other clips
    assert corpus.label_counts == {"anger": 1, "happiness": 2, "sadness": 3}
    assert {u.speaker for u in corpus.utterances} == {"unknown"} and corpus.speakers == []


def test_folder_per_label_with_speaker_csv(tmp_path):
    make_files(tmp_path, ["Angry/x.wav", "Happy/y.wav", "Happy/z.wav"])
    write_csv(tmp_path / "speakers.csv", "path,speaker,gender\nAngry/x.wav,ann,F\nHappy/y.wav,bob,male")
    corpus = read_corpus(tmp_path)
    assert corpus.name == "folders"
    got = {u.path.name: (u.speaker, u.gender) for u in corpus.utterances}
    assert got == {"x.wav": ("ann", "female"), "y.wav": ("bob", "male"), "z.wav": ("unknown", "unknown")}


def test_csv_manifest(tmp_path):
    make_files(tmp_path, ["clips/a.wav", "clips/b.wav", "clips/c.wav"])
    absolute = make_wav(tmp_path / "elsewhere" / "d.wav")
    manifest = write_csv(
        tmp_path / "manifest.csv",
        f"""
path,label,speaker,gender,arousal,valence
clips/a.wav,Angry,s1,female,0.8,-0.5
clips/b.wav,neutral,s2,M,,
clips/c.wav,contempt,s2,M,,
clips/missing.wav,sad,s3,F,,
{absolute},hap,,,0.1,0.2
""",
    )
    for source in (manifest, tmp_path):  # the CSV itself, or the folder it is alone in
        corpus = read_corpus(source)
        assert corpus.name == "csv" and corpus.root == tmp_path.resolve()
        got = {u.path.name: (u.emotion, u.speaker, u.gender, u.arousal, u.valence) for u in corpus.utterances}
        assert got == {
            "a.wav": ("anger", "s1", "female", 0.8, -0.5),
            "b.wav": ("neutral", "s2", "male", None, None),
            "d.wav": ("happiness", "unknown", "unknown", 0.1, 0.2),
        }
        assert corpus.unreadable == [
            "clips/c.wav: unknown emotion label 'contempt'",
            "clips/missing.wav: no such file",
        ]


def test_csv_missing_columns_are_named(tmp_path):
    make_wav(tmp_path / "a.wav")
    manifest = write_csv(tmp_path / "m.csv", "path,label\na.wav,angry")
    with pytest.raises(CorpusError, match=r"missing column\(s\) speaker, gender"):
        read_corpus(manifest)
    with pytest.raises(CorpusError, match=r"missing column\(s\) speaker, gender"):
        read_corpus(tmp_path)


def test_csv_bad_number_and_no_usable_row(tmp_path):
    make_wav(tmp_path / "a.wav")
    manifest = write_csv(tmp_path / "m.csv", "path,label,speaker,gender,arousal\na.wav,angry,s1,f,high")
    with pytest.raises(CorpusError, match="arousal 'high' is not a number"):
        read_corpus(manifest)


def test_several_manifests_are_refused(tmp_path):
    make_wav(tmp_path / "a.wav")
    for name in ("one.csv", "two.csv"):
        write_csv(tmp_path / name, "path,label,speaker,gender\na.wav,angry,s1,f")
    with pytest.raises(CorpusError, match="several CSV manifests"):
        read_corpus(tmp_path)


# --- refusals and partly unreadable corpora -----------------------------------------------------


def refusal(path) -> str:
    with pytest.raises(CorpusError) as info:
        read_corpus(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_and_empty_folders(tmp_path):
    assert "no such folder" in refusal(tmp_path / "nowhere")
    assert "pass a corpus folder or a CSV manifest" in refusal(make_wav(tmp_path / "clip.wav"))
    (tmp_path / "clip.wav").unlink()
    assert "holds no audio files" in refusal(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    assert "holds no audio files" in refusal(tmp_path)


def test_unknown_layout(tmp_path):
    make_files(tmp_path, ["take1.wav", "take2.wav", "misc/take3.wav"])
    assert "unknown corpus layout" in refusal(tmp_path)


def test_bad_files_are_listed(tmp_path):
    make_files(tmp_path, ["Actor_03/03-01-02-01-01-01-03.wav"])
    (tmp_path / "Actor_03/03-01-03-01-01-01-03.wav").write_text("not audio")
    make_wav(tmp_path / "Actor_03/03-01-04-01-01-01-03.wav", seconds=0.1)
    corpus = read_corpus(tmp_path)
    assert len(corpus) == 1
    assert corpus.unreadable == [
        "Actor_03/03-01-03-01-01-01-03.wav: not a readable audio file",
        "Actor_03/03-01-04-01-01-01-03.wav: 0.10 s is shorter than 0.25 s",
    ]


def test_all_files_unreadable_is_refused(tmp_path):
    (tmp_path / "Actor_03").mkdir()
    for e in (1, 2):
        (tmp_path / f"Actor_03/03-01-0{e}-01-01-01-03.wav").write_text("not audio")
    message = refusal(tmp_path)
    assert "none of its 2 ravdess files is usable" in message and "not a readable audio file" in message


def test_describe(tmp_path):
    names = ["Actor_01/03-01-05-01-01-01-01.wav", "Actor_01/03-01-01-01-01-01-01.wav", "Actor_02/03-01-05-01-01-01-02.wav"]
    corpus = read_corpus(make_files(tmp_path, names, seconds=0.5))
    d = describe(corpus)
    assert d == {
        "format": "ravdess",
        "root": str(tmp_path.resolve()),
        "utterances": 3,
        "total_seconds": 1.5,
        "speakers": 2,
        "speaker_ids": ["01", "02"],
        "unknown_speaker_utterances": 0,
        "genders": {"female": 1, "male": 1},
        "label_counts": {"anger": 2, "neutral": 1},
        "unreadable": [],
    }
    assert corpus.utterance_id(corpus.utterances[0]) == "Actor_01/03-01-01-01-01-01-01.wav"


# --- the real thing -----------------------------------------------------------------------------


@pytest.mark.skipif(not RAVDESS.is_dir(), reason="RAVDESS is not at ../shared/data/ravdess")
def test_ravdess_shared_copy():
    start = time.perf_counter()
    corpus = read_corpus(RAVDESS)
    seconds = time.perf_counter() - start
    assert seconds < 3.0, f"reading 1440 headers took {seconds:.1f} s"
    d = describe(corpus)
    assert (d["format"], d["utterances"], d["speakers"], d["unreadable"]) == ("ravdess", 1440, 24, [])
    assert d["genders"] == {"female": 12, "male": 12}
    assert d["label_counts"]["neutral"] == 96 and len(d["label_counts"]) == 8
    assert all(d["label_counts"][e] == 192 for e in d["label_counts"] if e != "neutral")
    assert all(2.5 < u.duration < 6.0 for u in corpus.utterances)
    assert all(corpus.speaker_genders[s] == ("male" if int(s) % 2 else "female") for s in corpus.speakers)


# --- confinement and messages (issue 12) ---------------------------------------------------------


def confined_refusal(path, roots) -> str:
    with pytest.raises(CorpusError) as info:
        read_corpus(path, allowed_roots=roots)
    message = str(info.value)
    assert "\n" not in message and "/" + str(path).split("/")[1] not in message  # no absolute path
    assert all(str(Path(r)) not in message for r in roots)  # never the allowed roots
    return message


def test_a_symlink_leaving_the_allowed_roots_is_refused(tmp_path):
    corpus = make_files(tmp_path / "corpus", ["Actor_01/03-01-01-01-01-01-01.wav"])
    secret = make_wav(tmp_path / "private" / "secret.wav")
    (corpus / "Actor_01/03-01-05-01-01-01-01.wav").symlink_to(secret)
    assert len(read_corpus(corpus)) == 2  # no roots: no check, as before
    assert len(read_corpus(corpus, allowed_roots=[tmp_path])) == 2
    message = confined_refusal(corpus, [corpus])
    assert message == "Actor_01/03-01-05-01-01-01-01.wav: outside the folders corpora may be read from"


def test_a_manifest_row_outside_the_allowed_roots_is_refused(tmp_path):
    make_files(tmp_path / "corpus", ["clips/a.wav"])
    outside = make_wav(tmp_path / "private" / "d.wav")
    manifest = write_csv(tmp_path / "corpus" / "m.csv", f"path,label,speaker,gender\nclips/a.wav,angry,s1,f\n{outside},sad,s2,m")
    assert len(read_corpus(manifest)) == 2
    assert confined_refusal(manifest, [tmp_path / "corpus"]) == "../private/d.wav: outside the folders corpora may be read from"
    write_csv(manifest, "path,label,speaker,gender\nclips/a.wav,angry,s1,f\n../private/missing.wav,sad,s2,m")
    assert "../private/missing.wav: outside" in confined_refusal(manifest, [tmp_path / "corpus"])  # existence not told


def test_a_corpus_or_manifest_outside_the_allowed_roots_is_refused(tmp_path):
    corpus = make_files(tmp_path / "elsewhere", ["Actor_01/03-01-01-01-01-01-01.wav"])
    (tmp_path / "allowed").mkdir()
    assert confined_refusal(corpus, [tmp_path / "allowed"]) == "elsewhere: outside the folders corpora may be read from"
    make_wav(tmp_path / "allowed" / "a.wav")
    target = write_csv(tmp_path / "elsewhere" / "m.csv", "path,label,speaker,gender\na.wav,angry,s1,f")
    (tmp_path / "allowed" / "m.csv").symlink_to(target)
    assert confined_refusal(tmp_path / "allowed" / "m.csv", [tmp_path / "allowed"]).startswith("m.csv: outside")
    assert confined_refusal(tmp_path / "allowed", [tmp_path / "allowed"]).startswith("m.csv: outside")


def test_folders_are_named_folders(tmp_path):
    make_files(tmp_path, ["clips/a.wav"])
    (tmp_path / "clips" / "b.wav").mkdir()
    manifest = write_csv(tmp_path / "m.csv", "path,label,speaker,gender\nclips/a.wav,angry,s1,f\nclips/b.wav,sad,s1,f")
    assert read_corpus(manifest).unreadable == ["clips/b.wav: a folder, not an audio file"]
    from crnn.core.corpora import read_manifest

    with pytest.raises(CorpusError, match="clips is a folder, not a CSV manifest"):
        read_manifest(tmp_path / "clips")


def test_messages_show_no_server_folders(tmp_path):
    message = refusal(tmp_path / "nowhere")
    assert message == "nowhere: no such folder or CSV manifest"
    make_files(tmp_path / "c", ["take1.wav", "take2.wav"])
    assert refusal(tmp_path / "c").startswith("c: unknown corpus layout")
