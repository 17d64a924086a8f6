"""genhub.audio: reading clips (formats, rates, channels, sample types, bad clips), the log-mel image and its
Griffin-Lim inverse within the stated bound, windows and overlap-add, the synthetic voice, pitch and DTW."""

import math

import numpy as np
import pytest
import soundfile
import torch

from genhub.audio import (
    MAX_AUDIO_BYTES,
    AudioError,
    SpectrogramSpec,
    dtw_l1,
    median_f0,
    overlap_add,
    read_audio,
    synthetic_voice,
    windows,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module

SENTENCE = "the quiet river carries seven small boats past the old mill"  # 11 words: 3.52 s of synthetic voice
SPEC = SpectrogramSpec()


def _sine(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


def test_a_mono_16khz_wav_is_read_as_it_is(tmp_path):
    voice = synthetic_voice(SENTENCE, 120.0)
    path = tmp_path / "mono.wav"
    soundfile.write(path, voice, 16000, subtype="PCM_16")
    waveform, note = read_audio(path)
    assert waveform.dtype == np.float32 and waveform.shape == voice.shape
    assert np.abs(waveform - voice).max() <= 1 / 32768  # 16-bit rounding only
    assert note == "mono 16 kHz, 3.5 s"
    assert np.array_equal(read_audio(path.read_bytes())[0], waveform)  # bytes read like the file


def test_a_stereo_44khz_wav_is_mixed_down_and_resampled(tmp_path):
    left, right = _sine(440.0, 2.0, 44100, 0.4), _sine(440.0, 2.0, 44100, 0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    waveform, note = read_audio(path)
    assert note == "stereo 44.1 kHz → mono 16 kHz, 2.0 s"
    assert waveform.shape == (32000,) and waveform.dtype == np.float32
    # the mean of the channels, a 0.3 sine, at the new rate (the filter's edge effects aside)
    assert np.abs(waveform - _sine(440.0, 2.0, 16000, 0.3))[200:-200].max() < 2e-3


@pytest.mark.parametrize("audio_format", ["FLAC", "OGG", "MP3"])
def test_compressed_formats_are_read(tmp_path, audio_format):
    path = tmp_path / f"tone.{audio_format.lower()}"
    soundfile.write(path, _sine(440.0, 1.0, 48000), 48000, format=audio_format)
    waveform, note = read_audio(path)
    assert note.startswith("mono 48 kHz → mono 16 kHz")
    assert abs(len(waveform) - 16000) <= 1200  # MP3 and Vorbis pad a few frames
    spectrum = np.abs(np.fft.rfft(waveform))
    assert abs(np.argmax(spectrum) * 16000 / len(waveform) - 440.0) < 3.0


def test_gradio_arrays_of_integers_and_floats():
    voice = synthetic_voice(SENTENCE, 120.0)  # peak 0.5
    for samples, tolerance in ((np.round(voice * 32767).astype(np.int16), 1 / 32767),
                               (np.round(voice * 2**31).astype(np.int32), 1e-7),
                               (voice.astype(np.float64), 0.0)):
        waveform, note = read_audio((16000, samples))
        assert waveform.dtype == np.float32 and note == "mono 16 kHz, 3.5 s"
        assert np.abs(waveform - voice).max() <= tolerance + 1e-7
    stereo, note = read_audio((48000, np.stack([_sine(440.0, 1.0, 48000)] * 2, axis=1)))
    assert note == "stereo 48 kHz → mono 16 kHz, 1.0 s" and stereo.shape == (16000,)
    loud, note = read_audio((16000, 4.0 * voice))  # float above full scale (peak 2): scaled down, not clipped
    assert note == "mono 16 kHz, 3.5 s, peak 2 scaled to 1"
    assert np.allclose(loud, 2.0 * voice, atol=1e-6)


def test_bad_clips_get_a_clear_error(tmp_path):
    with pytest.raises(AudioError, match="0.10 s long, shorter than the 0.25 s minimum"):
        read_audio((16000, _sine(440.0, 0.1, 16000)))
    with pytest.raises(AudioError, match="31.0 s long, longer than the 30 s limit"):
        read_audio((16000, np.zeros(31 * 16000, np.int16)))
    long_file = tmp_path / "long.wav"
    soundfile.write(long_file, np.zeros(31 * 8000, np.int16), 8000)
    with pytest.raises(AudioError, match="longer than the 30 s limit"):
        read_audio(long_file)
    assert read_audio(long_file, max_seconds=40.0)[0].shape == (31 * 16000,)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    with pytest.raises(AudioError, match="not an audio file genhub can read"):
        read_audio(corrupt)
    with pytest.raises(AudioError, match="not an audio file genhub can read"):
        read_audio(b"this is a text file, not sound")
    with pytest.raises(AudioError, match="empty"):
        read_audio(b"")
    with pytest.raises(AudioError, match="missing"):
        read_audio(tmp_path / "nowhere.wav")
    huge = tmp_path / "huge.wav"
    with open(huge, "wb") as file:  # sparse: refused from its size, never decoded
        file.truncate(MAX_AUDIO_BYTES + 1)
    with pytest.raises(AudioError, match="larger than the 32 MB limit"):
        read_audio(huge)
    other_format = tmp_path / "tone.au"
    soundfile.write(other_format, _sine(440.0, 1.0, 16000), 16000, format="AU")
    with pytest.raises(AudioError, match="its format is AU"):
        read_audio(other_format)
    broken = _sine(440.0, 1.0, 16000)
    broken[100] = np.nan
    with pytest.raises(AudioError, match="NaN or infinity"):
        read_audio((16000, broken))
    with pytest.raises(AudioError, match="16000 channels"):  # channels first is not Gradio's layout
        read_audio((16000, np.zeros((2, 16000), np.int16)))
    with pytest.raises(AudioError, match="not audio"):
        read_audio((16000, np.zeros(16000, bool)))


def test_the_log_mel_scale():
    silence = SPEC.mel(np.zeros(16000))
    assert silence.shape == (1, 64, 1 + 16000 // 256) and silence.dtype == torch.float32
    assert torch.all(silence == -1)
    # 10 log10 of mel power, max_db = 30 at +1: a full-scale 440 Hz sine (30.4 dB) reaches the top, one 40 dB
    # quieter sits at 30.4 - 40 = -9.6 dB, i.e. (-9.6 + 50) / 40 - 1 = 0.01
    assert SPEC.mel(_sine(440.0, 1.0, 16000, 1.0)).max() == 1.0
    assert SPEC.mel(_sine(440.0, 1.0, 16000, 0.01)).max().item() == pytest.approx(0.01, abs=0.01)
    with pytest.raises(ValueError, match="1-D waveform"):
        SPEC.mel(np.zeros((2, 16000)))


@pytest.mark.parametrize("pitch_hz, formant_shift", [(120.0, 1.0), (230.0, 1.15)])
def test_mel_to_audio_to_mel_stays_within_the_stated_bound(pitch_hz, formant_shift):
    image = SPEC.mel(synthetic_voice(SENTENCE, pitch_hz, formant_shift))
    assert image.shape == (1, 64, 221) and -1 <= image.min() and image.max() <= 1
    audio = SPEC.waveform(image, n_iter=32)
    assert audio.dtype == np.float32 and audio.shape == (256 * 220,) and np.abs(audio).max() <= 1
    error = (SPEC.mel(audio) - image).abs()
    assert error.mean() < 0.04 and error.quantile(0.95) < 0.2  # measured 0.026 and 0.13-0.14 (see waveform())
    assert np.array_equal(SPEC.waveform(image, n_iter=32), audio)  # deterministic (zero initial phase)
    with pytest.raises(ValueError, match="n_iter"):
        SPEC.waveform(image, n_iter=0)
    with pytest.raises(ValueError, match="shape"):
        SPEC.waveform(image[:, :32])


@pytest.mark.parametrize("length, hop", [(1, 32), (40, 32), (64, 32), (65, 32), (221, 32), (221, 64), (100, 7)])
def test_windows_and_overlap_add_give_the_clip_back(length, hop):
    image = torch.rand(1, 64, length, generator=torch.Generator().manual_seed(length)) * 2 - 1
    cut = windows(image, frames=64, hop=hop)
    count = max(1, math.ceil((length - 64) / hop) + 1)
    assert cut.shape == (count, 1, 64, 64)
    assert torch.equal(cut[0, ..., :min(length, 64)], image[..., :64])
    assert torch.all(cut[-1, ..., length - (count - 1) * hop:] == -1)  # the padding is silence
    back = overlap_add(cut, length, hop)
    assert back.shape == image.shape and torch.allclose(back, image, atol=1e-6)


def test_windows_of_a_real_clip_and_the_cross_fade():
    image = SPEC.mel(synthetic_voice(SENTENCE, 120.0))
    assert torch.allclose(overlap_add(windows(image), image.shape[2], 32), image, atol=1e-6)
    assert windows(image).shape == (6, 1, 64, 64)  # hop 32 by default: 221 frames -> 6 windows (256 padded)
    # a network that changed its second window to 1s: the seam is a smooth cross-fade, no jump
    stitched = overlap_add(torch.cat([torch.zeros(1, 1, 64, 64), torch.ones(1, 1, 64, 64)]), 96, 32)[0, 0]
    assert torch.all(stitched[:32] == 0) and torch.all(stitched[64:] == 1)
    assert torch.all(torch.diff(stitched[31:65]) > 0)
    with pytest.raises(ValueError, match="hop"):
        windows(image, hop=65)
    with pytest.raises(ValueError, match="length"):
        overlap_add(windows(image), 257, 32)


def test_the_synthetic_voice_is_deterministic_and_follows_its_text():
    voice = synthetic_voice(SENTENCE, 120.0, seed=1)
    assert voice.dtype == np.float32 and voice.shape == (round(11 * 0.32 * 16000),)
    assert np.abs(voice).max() == pytest.approx(0.5)
    assert np.array_equal(voice, synthetic_voice(SENTENCE, 120.0, seed=1))
    assert not np.array_equal(voice, synthetic_voice(SENTENCE, 120.0, seed=2))
    assert synthetic_voice(SENTENCE, 230.0, 1.15).shape == voice.shape  # the same sentence, another voice
    assert synthetic_voice(7, 120.0, seconds=1.5).shape == (24000,)
    with pytest.raises(ValueError, match="positive"):
        synthetic_voice(SENTENCE, 0.0)


@pytest.mark.parametrize("pitch_hz, formant_shift", [(110.0, 1.0), (240.0, 1.15)])
def test_median_f0_finds_the_pitch_of_a_synthetic_voice(pitch_hz, formant_shift):
    assert median_f0(synthetic_voice(SENTENCE, pitch_hz, formant_shift), 16000) == pytest.approx(pitch_hz, rel=0.05)


def test_median_f0_of_silence_is_nan():
    assert math.isnan(median_f0(np.zeros(16000), 16000))


def test_dtw_l1_forgives_speed_but_not_another_voice():
    voice = SPEC.mel(synthetic_voice(SENTENCE, 120.0))
    slower = SPEC.mel(synthetic_voice(SENTENCE, 120.0, seconds=1.3 * 3.52))
    other = SPEC.mel(synthetic_voice(SENTENCE, 230.0, 1.15))
    assert slower.shape[2] > voice.shape[2] + 60
    assert dtw_l1(voice, voice) == 0.0
    assert dtw_l1(voice, slower) < 0.25 * dtw_l1(voice, other)  # measured 0.020 vs 0.18
    assert dtw_l1(voice[0].numpy(), slower[0].numpy()) == pytest.approx(dtw_l1(voice, slower))
    with pytest.raises(ValueError, match="shape"):
        dtw_l1(voice, voice[:, :32])
