"""neuromaster.demo: procedural test material.

Contracts (shape, exact peak, determinism, stems summing to the mix, file
writing, argument errors) and the properties other tests rely on, measured
in the signal's own units: tempo from onset autocorrelation, crest factor and
loudness range (dB, LU), spectral balance (dB), L/R correlation per band, and
each fault against the clean mix.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pyloudnorm   # test dependency (the `test` extra): a missing one should fail, not skip
import pytest
import scipy.signal as ss
import soundfile as sf

from neuromaster import demo
from neuromaster.errors import AudioFileError, ParameterError


# ----------------------------------------------------------------- helpers
def _mix(genre, duration_s=20.0, sample_rate=44100, seed=0, tempo_bpm=None, faults=()):
    """make_mix, memoised across tests (read-only arrays)."""
    return _cached_mix(genre, duration_s, sample_rate, seed, tempo_bpm, faults)


@functools.lru_cache(maxsize=None)
def _cached_mix(genre, duration_s, sample_rate, seed, tempo_bpm, faults):
    x = demo.make_mix(genre, duration_s, sample_rate, seed, tempo_bpm=tempo_bpm, faults=faults)
    x.setflags(write=False)
    return x


def _band_db(x, sample_rate, lo_hz, hi_hz):
    """Energy of the mono sum in [lo, hi) Hz, dB (Welch PSD)."""
    f, p = ss.welch(x.mean(axis=0), sample_rate, nperseg=8192)
    return 10 * np.log10(np.sum(p[(f >= lo_hz) & (f < hi_hz)]) + 1e-300)


def _corr(x, sample_rate, lo_hz=None, hi_hz=None):
    """Pearson L/R correlation, optionally of a band (4th-order Butterworth)."""
    if hi_hz is not None:
        btype, wn = ("lowpass", hi_hz) if lo_hz is None else ("bandpass", (lo_hz, hi_hz))
        x = ss.sosfilt(ss.butter(4, wn, btype, fs=sample_rate, output="sos"), x, axis=1)
    return float(np.sum(x[0] * x[1]) / np.sqrt(np.sum(x[0] ** 2) * np.sum(x[1] ** 2)))


def _crest_db(x):
    return 20 * np.log10(np.max(np.abs(x)) / np.sqrt(np.mean(x ** 2)))


def _tempo_bpm(x, sample_rate, lo=60.0, hi=200.0):
    """Tempo from the autocorrelation of a spectral-flux onset envelope:
    the BPM whose first four beat lags collect the most autocorrelation."""
    hop = int(round(0.01 * sample_rate))
    nfft = 2048 if sample_rate <= 48000 else 8192
    _, _, z = ss.stft(x.mean(axis=0), sample_rate, nperseg=nfft, noverlap=nfft - hop, boundary=None, padded=False)
    mag = np.log1p(1000 * np.abs(z))
    flux = np.maximum(np.diff(mag, axis=1), 0).sum(axis=0)
    flux -= flux.mean()
    ac = np.correlate(flux, flux, "full")[len(flux) - 1:]
    frames_per_s = sample_rate / hop
    bpms = np.arange(lo, hi, 0.25)
    scores = [np.interp(60.0 / b * frames_per_s * np.arange(1, 5), np.arange(len(ac)), ac).sum() for b in bpms]
    return float(bpms[int(np.argmax(scores))])


def _short_term_lra(x, sample_rate):
    """Loudness range after EBU Tech 3342 (gates at -70 LUFS and -20 LU, 95th -
    10th percentile) over 3 s windows at a 1 s hop, each window's loudness
    measured by pyloudnorm (an independent BS.1770 implementation)."""
    meter = pyloudnorm.Meter(sample_rate)
    w, hop = 3 * sample_rate, sample_rate
    st = np.array([meter.integrated_loudness(x[:, i: i + w].T) for i in range(0, x.shape[1] - w + 1, hop)])
    st = st[np.isfinite(st) & (st > -70)]
    energy = 10 * np.log10(np.mean(10 ** (st / 10)))
    st = st[st > energy - 20]
    return float(np.percentile(st, 95) - np.percentile(st, 10))


# --------------------------------------------------------- shape and peak
@pytest.mark.parametrize("genre,sample_rate,duration_s", [
    ("pop", 22050, 0.005), ("trap", 192000, 0.005), ("edm", 44100, 0.005), ("classical", 22050, 1.3),
    ("jazz", 48000, 2.0), ("metal", 96000, 0.75), ("lofi", 192000, 0.5), ("rock", 22050, 3.7),
    ("hiphop", 88200, 1.0), ("acoustic", 32000, 1.1),
])
def test_shape_dtype_and_exact_peak(genre, sample_rate, duration_s):
    x = demo.make_mix(genre, duration_s, sample_rate, seed=3)
    assert x.shape == (2, round(duration_s * sample_rate))
    assert x.dtype == np.float64 and x.flags.c_contiguous
    assert np.all(np.isfinite(x))
    assert np.max(np.abs(x)) == 10 ** (-3.0 / 20)   # exact, not approximately
    assert np.std(x) > 0 and not np.array_equal(x[0], x[1])


@pytest.mark.parametrize("peak_dbfs", [0.0, -0.1, -12.5, -60.0, 3.0])
def test_peak_dbfs_is_met_exactly(peak_dbfs):
    x = demo.make_mix("pop", 1.5, 44100, seed=1, peak_dbfs=peak_dbfs)
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(peak_dbfs, abs=1e-12)
    assert np.max(np.abs(x)) == 10 ** (peak_dbfs / 20)


def test_one_sample_and_tiny_durations():
    assert demo.make_mix("pop", 1 / 44100, 44100).shape == (2, 1)
    x = demo.make_mix("classical", 0.005, 22050)
    assert x.shape == (2, 110) and np.max(np.abs(x)) == 10 ** (-3 / 20)


# ------------------------------------------------------------ determinism
def test_deterministic_and_seed_sensitive():
    a = demo.make_mix("pop", 4.0, 44100, seed=5)
    b = demo.make_mix("pop", 4.0, 44100, seed=5)
    assert np.array_equal(a, b)   # bit-identical
    c = demo.make_mix("pop", 4.0, 44100, seed=6)
    assert not np.allclose(a, c)
    # really other material, not the same music with other noise
    assert abs(_corr(np.stack([a.mean(0), c.mean(0)]), 44100)) < 0.5
    plans = {tuple(sorted((k, str(v)) for k, v in demo.describe("pop", 30.0, seed=s).items())) for s in range(6)}
    assert len(plans) == 6


def test_plan_does_not_depend_on_rate_and_tempo_is_in_genre_range():
    for genre in demo.GENRES:
        lo, hi = demo.GENRE_TEMPO_BPM[genre]
        for seed in range(4):
            d = demo.describe(genre, 20.0, 22050, seed)
            assert d == demo.describe(genre, 20.0, 192000, seed)
            assert lo <= d["tempo_bpm"] <= hi
    assert demo.describe("pop", tempo_bpm=131.5)["tempo_bpm"] == 131.5


def test_spectrum_scales_with_sample_rate():
    """The same notes at 22.05 and 96 kHz: octave bands 63 Hz - 8 kHz agree."""
    lo = demo.make_mix("pop", 8.0, 22050, seed=2)
    hi = demo.make_mix("pop", 8.0, 96000, seed=2)
    edges = [63, 125, 250, 500, 1000, 2000, 4000, 8000]
    d_lo = np.array([_band_db(lo, 22050, a, b) for a, b in zip(edges, edges[1:])]) + 10 * np.log10(22050)
    d_hi = np.array([_band_db(hi, 96000, a, b) for a, b in zip(edges, edges[1:])]) + 10 * np.log10(96000)
    diff = (d_hi - d_hi.max()) - (d_lo - d_lo.max())
    assert np.max(np.abs(diff)) < 1.5, diff
    # and little ultrasonic energy at 96 kHz (every snippet is low-passed at 18 kHz, 4th order;
    # white-noise cymbals without it would sit about 20 dB higher)
    ultra = _band_db(hi, 96000, 24000, 48000) - _band_db(hi, 96000, 20, 24000)
    print(f"pop at 96 kHz: energy 24-48 kHz {ultra:.1f} dB re 20 Hz-24 kHz; octave-band deviation {diff.round(2)}")
    assert ultra < -40


# ------------------------------------------------------ musical properties
@pytest.mark.parametrize("genre,tempo_bpm", [
    ("pop", None), ("pop", 131.0), ("edm", None), ("hiphop", None), ("trap", None), ("rock", 112.0),
    ("metal", None), ("jazz", None), ("lofi", None), ("acoustic", None),
])
def test_tempo_from_onset_autocorrelation(genre, tempo_bpm):
    """The drawn tempo (or the ``tempo_bpm`` argument) is what a beat tracker hears."""
    x = _mix(genre, tempo_bpm=tempo_bpm)
    true = demo.describe(genre, 20.0, tempo_bpm=tempo_bpm)["tempo_bpm"]
    est = _tempo_bpm(x, 44100)
    ratio = est / true
    # a beat tracker may lock to half or double time; beyond that it must agree within 1 %
    assert min(abs(ratio - r) / r for r in (0.5, 1.0, 2.0)) < 0.01, (est, true)


def test_dynamics_differ_by_genre():
    """Crest factor (dB) of 20 s excerpts: the acoustic genres are far more
    dynamic than edm / metal / trap."""
    crest = {g: _crest_db(_mix(g)) for g in demo.GENRES}
    print("crest factor dB:", {g: round(v, 1) for g, v in crest.items()})
    dense = max(crest["edm"], crest["metal"], crest["trap"])
    assert crest["classical"] > crest["edm"] + 4.5
    for g in ("classical", "jazz", "acoustic"):
        assert crest[g] > dense + 3.0, g
    for g in crest:
        assert 10.0 < crest[g] < 24.0, (g, crest[g])   # a rough mix, neither a sine nor a click


def test_loudness_range_is_not_trivial():
    """Sections with more / fewer instruments and genre dynamics give every
    20 s excerpt a loudness range; classical and jazz far more than edm / metal."""
    lra = {g: _short_term_lra(_mix(g), 44100) for g in demo.GENRES}
    print("LRA LU:", {g: round(v, 1) for g, v in lra.items()})
    assert min(lra.values()) > 1.5
    assert lra["classical"] > lra["edm"] + 5.0
    assert lra["jazz"] > lra["metal"] + 5.0


def test_spectral_balance_differs_by_genre():
    """High band (4-16 kHz) relative to the whole, dB: lofi is dark, metal bright;
    hiphop / trap carry more sub (30-60 Hz) than rock / metal."""
    def hf(g):
        return _band_db(_mix(g), 44100, 4000, 16000) - _band_db(_mix(g), 44100, 20, 20000)

    def sub(g):
        return _band_db(_mix(g), 44100, 30, 60) - _band_db(_mix(g), 44100, 20, 20000)

    assert hf("lofi") < hf("metal") - 10.0
    assert hf("lofi") < hf("pop") - 6.0
    assert min(sub("hiphop"), sub("trap")) > max(sub("rock"), sub("metal")) + 3.0


@pytest.mark.parametrize("genre", demo.GENRES)
def test_stereo_image_is_realistic(genre):
    x = _mix(genre)
    overall, low = _corr(x, 44100), _corr(x, 44100, None, 120.0)
    assert 0.3 < overall < 0.92, overall   # 0.3-0.9 as in a real mix (a mono sub weighs a lot)
    assert low > 0.8, low            # mono-compatible low end in a clean mix
    assert _corr(x, 44100, 2000.0, 8000.0) < 0.97   # some width up top (room, stereo sources)


# ------------------------------------------------------------------ faults
def test_dc_offset_is_exact_and_peak_still_exact():
    clean = _mix("pop", 6.0)
    x = _mix("pop", 6.0, faults=("dc_offset",))
    # the music's own mean is tiny (20 Hz high-pass on every part) ...
    assert np.all(np.abs(clean.mean(axis=1)) < 1e-4)
    # ... and the offset is exactly the requested one on top of it (after scaling)
    dc = demo.FAULT_DEFAULTS["dc_offset"]
    assert np.all(np.abs(x.mean(axis=1) - dc) <= 1.01 * np.abs(clean.mean(axis=1)) + 1e-12)
    assert np.max(np.abs(x)) == 10 ** (-3 / 20)
    y = demo.make_mix("pop", 3.0, 48000, faults={"dc_offset": -0.05}, peak_dbfs=-1.0)
    np.testing.assert_allclose(y.mean(axis=1), -0.05, atol=1e-4)
    assert np.max(np.abs(y)) == 10 ** (-1 / 20)


def test_boomy_lows_raise_the_low_band():
    clean, boomy = _mix("pop", 6.0), _mix("pop", 6.0, faults=("boomy_lows",))
    def tilt(x):
        return _band_db(x, 44100, 40, 160) - _band_db(x, 44100, 500, 2000)
    gain = tilt(boomy) - tilt(clean)
    print(f"boomy_lows: low band +{gain:.1f} dB relative to the mids")
    assert gain > 6.0


def test_harsh_highs_raise_the_high_band():
    clean, harsh = _mix("pop", 6.0), _mix("pop", 6.0, faults=("harsh_highs",))
    def tilt(x):
        return _band_db(x, 44100, 2500, 10000) - _band_db(x, 44100, 250, 1000)
    gain = tilt(harsh) - tilt(clean)
    print(f"harsh_highs: high band +{gain:.1f} dB relative to the low mids")
    assert gain > 6.0


@pytest.mark.parametrize("genre", ["pop", "trap", "jazz"])
def test_out_of_phase_bass_makes_low_band_correlation_negative(genre):
    clean, bad = _mix(genre, 6.0), _mix(genre, 6.0, faults=("out_of_phase_bass",))
    c_clean, c_bad = _corr(clean, 44100, None, 150.0), _corr(bad, 44100, None, 150.0)
    print(f"{genre}: correlation below 150 Hz clean {c_clean:.2f}, faulted {c_bad:.2f}")
    assert c_clean > 0.5 and c_bad < 0.0
    # the fault is confined to the low end
    assert abs(_corr(bad, 44100, 1000.0, 8000.0) - _corr(clean, 44100, 1000.0, 8000.0)) < 0.02


def test_faults_accept_amounts_and_zero_amount_is_clean():
    a = demo.make_mix("edm", 2.0, 44100, faults={"boomy_lows": 0.0, "harsh_highs": 0.0, "out_of_phase_bass": 0.0})
    assert np.array_equal(a, demo.make_mix("edm", 2.0, 44100))
    mild = demo.make_mix("edm", 3.0, 44100, faults={"boomy_lows": 3.0})
    strong = demo.make_mix("edm", 3.0, 44100, faults={"boomy_lows": 12.0})
    def tilt(x):
        return _band_db(x, 44100, 40, 160) - _band_db(x, 44100, 500, 2000)
    assert tilt(strong) > tilt(mild) + 4.0


# ------------------------------------------------------------------- stems
def test_stems_sum_to_the_mix_with_faults():
    kw = dict(genre="hiphop", duration_s=4.0, sample_rate=48000, seed=4,   # short mixes start with a verse
              faults=("dc_offset", "boomy_lows", "out_of_phase_bass"))
    stems = demo.make_stems(**kw)
    mix = demo.make_mix(**kw)
    assert tuple(stems) == demo.STEMS
    total = sum(stems.values()) + demo.FAULT_DEFAULTS["dc_offset"]
    assert np.max(np.abs(total - mix)) < 1e-12
    for name in ("kick", "snare", "hats", "bass", "chords", "lead"):
        assert np.sqrt(np.mean(stems[name] ** 2)) > 1e-4, name   # every part plays in hip-hop
    # a subset is the same arrays
    sub = demo.make_stems(**kw, names=("kick", "bass"))
    assert tuple(sub) == ("kick", "bass")
    assert np.array_equal(sub["kick"], stems["kick"]) and np.array_equal(sub["bass"], stems["bass"])


@pytest.mark.parametrize("genre", ["trap", "edm", "rock", "lofi"])
def test_kick_stem_is_a_usable_sidechain(genre):
    """What a dynamic EQ keyed from the kick needs: a loud, low-frequency,
    percussive signal - in every bar a hit and a decay of > 10 dB after it."""
    kick = demo.make_stems(genre, 5.0, 44100, seed=2, names=("kick",))["kick"]
    assert 20 * np.log10(np.max(np.abs(kick))) > -16.0
    assert _band_db(kick, 44100, 20, 200) - _band_db(kick, 44100, 200, 20000) > 6.0
    frames = 10 * np.log10(np.sum(kick.mean(0).reshape(-1, 441) ** 2, axis=1) + 1e-20)   # 10 ms
    bar = int(round(demo.describe(genre, 5.0, seed=2)["bar_s"] * 100))
    assert bar < len(frames)
    for start in range(0, len(frames) - bar + 1, bar):
        seg = frames[start: start + bar]
        assert seg.max() > frames.max() - 12 and seg.max() - seg.min() > 10


def test_silent_parts_are_silent():
    stems = demo.make_stems("classical", 3.0, 22050, names=("snare", "hats", "chords"))
    assert not np.any(stems["snare"]) and not np.any(stems["hats"])
    assert np.any(stems["chords"])


# -------------------------------------------------------------- oscillators
def _alias_dbc(y, f0, sample_rate):
    """Largest non-harmonic component relative to the fundamental, dB."""
    n = len(y)
    p = np.abs(np.fft.rfft(y * np.blackman(n))) ** 2
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    tol = 8 * sample_rate / n
    harm = np.zeros_like(p, dtype=bool)
    for k in range(1, int(sample_rate / 2 / f0) + 1):
        harm |= np.abs(f - k * f0) < tol
    return 10 * np.log10(p[~harm & (f > 20)].max() / p[np.abs(f - f0) < tol].sum())


@pytest.mark.parametrize("kind", ["saw", "square"])
@pytest.mark.parametrize("f0", [110.0, 523.25, 1046.5, 1975.5])
def test_oscillators_do_not_alias_at_22k(kind, f0):
    sample_rate = 22050
    y = demo._osc(kind, f0, sample_rate, sample_rate)
    ph = (f0 / sample_rate * np.arange(sample_rate)) % 1.0
    naive = _alias_dbc(2 * ph - 1, f0, sample_rate)
    ours = _alias_dbc(y, f0, sample_rate)
    print(f"{kind} {f0} Hz at 22.05 kHz: aliases {ours:.1f} dBc (naive saw {naive:.1f} dBc)")
    assert naive > -45      # the measurement does see aliasing when it is there
    assert ours < -70


def test_distortion_is_oversampled():
    sample_rate, f0 = 22050, 392.0
    x = demo._filt(demo._osc("saw", f0, sample_rate, sample_rate), demo._butter("lowpass", 2500.0, sample_rate, 2))
    cab = (demo._butter("highpass", 90.0, sample_rate, 2), demo._butter("lowpass", 5000.0, sample_rate, 2))
    plain = _alias_dbc(demo._filt(np.tanh(3 * x), *cab)[5000:], f0, sample_rate)
    ours = _alias_dbc(demo._filt(demo._drive(x, 3.0, sample_rate), *cab)[5000:], f0, sample_rate)
    print(f"guitar drive at 22.05 kHz: aliases {ours:.1f} dBc (tanh at 1x {plain:.1f} dBc)")
    assert ours < plain - 20 and ours < -80


# ------------------------------------------------------------------ files
def test_write_demo_24_bit_and_streamed_equal(tmp_path):
    p1, p2 = tmp_path / "a.wav", tmp_path / "b.wav"
    kw = dict(genre="lofi", duration_s=2.5, sample_rate=48000, seed=7, faults=("dc_offset",), peak_dbfs=-1.0)
    y = demo.write_demo(p1, **kw)
    assert demo.write_demo(p2, **kw, return_audio=False, chunk_s=0.37) is None
    info = sf.info(str(p1))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (48000, 2, 120000, "PCM_24")
    a, _ = sf.read(str(p1), dtype="float64")
    np.testing.assert_allclose(a.T, y, atol=2.0 ** -23)
    assert np.array_equal(y, demo.make_mix(**kw))
    ia, _ = sf.read(str(p1), dtype="int32")
    ib, _ = sf.read(str(p2), dtype="int32")
    assert np.array_equal(ia, ib)


def test_write_demo_errors(tmp_path):
    with pytest.raises(AudioFileError, match="cannot write"):
        demo.write_demo(tmp_path / "missing-dir" / "x.wav", duration_s=0.1)
    with pytest.raises(ParameterError, match="fixed-point"):
        demo.write_demo(tmp_path / "x.wav", duration_s=0.1, peak_dbfs=1.0)
    with pytest.raises(ParameterError, match="unknown arguments"):
        demo.write_demo(tmp_path / "x.wav", duration_s=0.1, tempo=120)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(genre="polka"), "genre must be one of hiphop, trap, edm"),
    (dict(genre=None), "genre must be one of"),
    (dict(faults=("clipping",)), "known faults \\(dc_offset, boomy_lows"),
    (dict(faults={"boomy_lows": 40.0}), r"boomy_lows amount must be in \[0, 24\]"),
    (dict(faults={"dc_offset": 0.6}), r"dc_offset"),
    (dict(faults=3), "faults must be"),
    (dict(duration_s=0.0), r"duration_s must be .* \(0, 21600\]"),
    (dict(duration_s=-1.0), "duration_s"),
    (dict(duration_s=math.nan), "duration_s"),
    (dict(duration_s="3"), "duration_s"),
    (dict(duration_s=1e-7), "gives no samples"),
    (dict(sample_rate=8000), r"sample_rate must be .* \[22050, 192000\]"),
    (dict(sample_rate=200000), "sample_rate"),
    (dict(sample_rate=44100.5), "whole number"),
    (dict(seed=1.5), "seed must be an int >= 0"),
    (dict(seed="1"), "seed must be an int"),
    (dict(seed=-1), "seed must be an int >= 0"),
    (dict(seed=True), "seed must be an int"),
    (dict(tempo_bpm=10.0), r"tempo_bpm must be None or in \[40, 250\]"),
    (dict(peak_dbfs=10.0), r"peak_dbfs must be in \[-80, 6\]"),
])
def test_bad_arguments_raise_parameter_error(kwargs, match):
    args = dict(genre="pop", duration_s=0.5, sample_rate=44100, seed=0)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        demo.make_mix(**args)
    assert issubclass(ParameterError, ValueError)


def test_bad_stem_names():
    with pytest.raises(ParameterError, match="stem names from kick, snare"):
        demo.make_stems("pop", 0.5, names=("vocals",))
