"""Procedural demo and test material: seeded stereo "rough mixes" in ten genres.

Every mix is synthesised from scratch (no audio files ship with the package):
kick / snare / hats, bass, chords and a monophonic lead with vibrato, arranged
in sections (intro, verse, chorus, break, outro) so that loudness range,
crest factor and stereo image behave like an unmastered mix's, with a cheap
room (early reflections and a short decaying-noise tail) per instrument and a
faint noise floor. Tests, benchmarks and the README's demo command use it.

Public API
----------
:func:`make_mix`
    ``(2, round(duration_s * sample_rate))`` float64 mix, sample peak exactly
    ``peak_dbfs``.
:func:`make_stems`
    the same mix as a dict of named stereo stems (see :data:`STEMS`).
:func:`write_demo`
    writes a mix to a 24-bit file (bounded memory for long files).
:func:`describe`
    the musical plan of a mix (tempo, key, meter, sections), for tests.

How the stems relate to the mix (exactly)
-----------------------------------------
The stems are rendered, each stem's *linear* faults applied inside it
(``boomy_lows``, ``harsh_highs``, ``out_of_phase_bass`` are linear
time-invariant filters applied to every stem, so filtering the stems equals
filtering their sum), and their raw sum ``s`` is scaled by one gain ``g > 0``.
``make_stems`` returns the *scaled* stems, so::

    make_mix(**kw) == sum(make_stems(**kw).values()) + dc

to within float rounding (<= 1e-12 absolute), where ``dc`` is the
``dc_offset`` amount when that fault is requested and 0 otherwise. The DC
offset is added *after* scaling, so the mix's offset is exactly the requested
value (plus the music's own mean, which a 20 Hz high-pass on every part keeps
near 1e-5 of full scale), and ``g`` is
chosen so that ``max |g * s + dc|`` is exactly ``10 ** (peak_dbfs / 20)``:
the sample peak is exact with or without the DC fault (the peak sample is set
to the exact value after scaling, a change of at most one ulp).

Determinism
-----------
The same arguments give bit-identical output on the same machine (numpy and
scipy only; no threads, no global random state). Random choices come from
independent streams seeded by ``(seed, genre, purpose)``, so the tempo, key,
progression and patterns do not depend on the sample rate or the duration
(the arrangement does: see :func:`make_mix`), and a different seed gives
different material (tempo, key, progression, melody, drum variations, noise).

Speed: the score is built from short snippets (drum hits, 4-bar instrument
patterns) that are synthesised once and overlap-added, so a 5-minute stereo
44.1 kHz mix takes about 1-1.5 s of CPU on one core (numpy / scipy only).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.signal as _ss

from .errors import AudioFileError, ParameterError

__all__ = [
    "GENRES", "FAULTS", "STEMS", "FAULT_DEFAULTS", "FAULT_RANGES", "GENRE_TEMPO_BPM",
    "make_mix", "make_stems", "write_demo", "describe",
]

#: Genres :func:`make_mix` knows, each with its own tempo range, meter, drum
#: pattern, instrumentation, balance, dynamics and spectral tilt.
GENRES = ("hiphop", "trap", "edm", "pop", "rock", "metal", "jazz", "classical", "lofi", "acoustic")

#: Faults a mix can be given (see :data:`FAULT_DEFAULTS` for what each does).
FAULTS = ("dc_offset", "boomy_lows", "harsh_highs", "out_of_phase_bass")

#: Stem names returned by :func:`make_stems`, in summation order. ``kick``
#: holds the genre's low drum (timpani in ``classical``), ``hats`` every
#: cymbal (hats, ride, crash, shaker), ``noise`` the mix's noise floor (hiss;
#: vinyl crackle in ``lofi``). Instruments a genre does not use are silent.
STEMS = ("kick", "snare", "hats", "bass", "chords", "lead", "noise")

#: Default fault amounts, used when ``faults`` is a sequence of names:
#:
#: ``dc_offset``
#:     constant added to both channels after normalisation, linear full scale
#:     (0.02 = -34 dBFS), range [-0.25, 0.25] and ``|dc| < peak / 2``.
#: ``boomy_lows``
#:     dB: a low shelf (120 Hz) of this gain plus a resonant peak of 0.7 times
#:     it at 75 Hz (Q 1.2), on every stem, range [0, 24].
#: ``harsh_highs``
#:     dB: a presence peak (3.2 kHz, Q 1.0) plus a high shelf (6 kHz), both
#:     of this gain, on every stem, range [0, 24].
#: ``out_of_phase_bass``
#:     0-1: the right channel's band below ~150 Hz (zero-phase 4th-order
#:     Butterworth split at 200 Hz) becomes ``(1 - a) * low - a * low delayed
#:     0.7 ms``: wide, partly polarity-inverted low end, L/R correlation there
#:     about -0.6 to -0.9 at the default 0.85.
FAULT_DEFAULTS = {"dc_offset": 0.02, "boomy_lows": 9.0, "harsh_highs": 9.0, "out_of_phase_bass": 0.85}
#: Allowed ``(low, high)`` fault amounts (inclusive).
FAULT_RANGES = {"dc_offset": (-0.25, 0.25), "boomy_lows": (0.0, 24.0), "harsh_highs": (0.0, 24.0),
                "out_of_phase_bass": (0.0, 1.0)}

MIN_SAMPLE_RATE = 22050
MAX_SAMPLE_RATE = 192000
TEMPO_RANGE_BPM = (40.0, 250.0)
PEAK_RANGE_DBFS = (-80.0, 6.0)
MAX_DURATION_S = 6 * 3600.0

_BARS_PER_PATTERN = 4
_LIVE_DB = -80.0  # snippets are trimmed where they fall this far below their peak

# ----------------------------------------------------------------- profiles
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)
_PHRYGIAN = (0, 1, 3, 5, 7, 8, 10)
_HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
_SECTIONS = ("intro", "verse", "chorus", "break", "outro")


@dataclass(frozen=True)
class _Genre:
    """Everything that makes one genre sound like itself (internal)."""

    tempo_bpm: tuple
    beats_per_bar: int = 4           # 16th-note steps per bar = 4 * beats_per_bar
    swing: tuple = (0.0, 0.0)        # delay of the off-beat unit, fraction of a unit (1/3 = triplet feel)
    swing_steps: int = 2             # swing unit in 16ths: 1 = swung 16ths, 2 = swung 8ths
    humanize_ms: float = 0.0         # std of timing jitter of live players
    scales: tuple = (_MAJOR,)
    progressions: tuple = ((0, 4, 5, 3),)
    chord_size: int = 3
    kit: str = "pop"
    kick: tuple = (0, 8)
    kick_alt: tuple = ()             # last bar of each 4-bar phrase
    snare: tuple = (4, 12)
    snare_sound: str = "snare"
    ghost_prob: float = 0.0
    hats: tuple = (0, 2, 4, 6, 8, 10, 12, 14)
    open_hats: tuple = ()
    fills: bool = True
    bass: str = "picked"
    bass_rhythm: str = "eighths"
    chords: str = "piano"
    lead: str = "square"
    lead_density: float = 0.35       # probability of a note onset per 8th
    levels_db: dict = field(default_factory=dict)
    section_db: tuple = (-5.0, -2.5, 0.0, -6.0, -5.0)  # intro, verse, chorus, break, outro
    velocity_db: float = 1.5         # std of per-note / per-hit level
    swell_db: float = 0.0            # depth of the 4-bar phrase swell of the pitched parts
    pump: float = 0.0                # sidechain pumping depth of bass and chords (0-1)
    drum_room: tuple = (0.35, -15.0)  # RT60 s, wet dB
    room: tuple = (0.9, -7.0)        # RT60 s, wet dB for chords and lead
    tone: tuple = ()                  # ("low_shelf"|"high_shelf"|"peak"|"lowpass", hz, db, q)
    noise: str = "hiss"
    noise_db: float = -80.0


_BASE_LEVELS = {"kick": 0.0, "snare": -3.0, "hats": -13.0, "bass": -5.0, "chords": -11.0, "lead": -10.0}


def _levels(**kw):
    return {**_BASE_LEVELS, **kw}


_PROFILES = {
    "hiphop": _Genre(
        tempo_bpm=(84, 96), swing=(0.10, 0.22), swing_steps=1, humanize_ms=3.0, scales=(_MINOR,),
        progressions=((0, 0, 5, 4), (0, 5, 3, 4), (0, 3, 0, 6)), chord_size=4, kit="boombap",
        kick=(0, 7, 10), kick_alt=(0, 3, 7, 10, 14), snare=(4, 12), ghost_prob=0.08, open_hats=(14,),
        bass="808", bass_rhythm="kick", chords="rhodes", lead="flute", lead_density=0.3,
        levels_db=_levels(kick=-1.0, snare=-1.0, hats=-4.0, bass=-6.5, chords=-6.0, lead=-8.0),
        section_db=(-4.0, -1.5, 0.0, -5.0, -4.0), velocity_db=1.0, drum_room=(0.3, -13.0), room=(0.8, -2.0),
        tone=(("low_shelf", 90.0, 2.0, 0.7), ("high_shelf", 9000.0, -2.0, 0.7))),
    "trap": _Genre(
        tempo_bpm=(130, 150), scales=(_MINOR, _HARMONIC_MINOR),
        progressions=((0, 0, 5, 4), (0, 5, 6, 4), (0, 3, 5, 4)), chord_size=3, kit="trap",
        kick=(0, 10), kick_alt=(0, 3, 10, 13), snare=(8,), snare_sound="clap", hats=tuple(range(16)),
        fills=False, bass="808", bass_rhythm="kick", chords="pad", lead="bell", lead_density=0.3,
        levels_db=_levels(kick=-2.0, snare=-2.0, hats=-4.0, bass=-3.0, chords=-8.0, lead=-5.0),
        section_db=(-4.0, -1.5, 0.0, -5.0, -4.0), velocity_db=0.8, drum_room=(0.25, -16.0), room=(1.2, 0.0),
        tone=(("low_shelf", 70.0, 2.0, 0.7),)),
    "edm": _Genre(
        tempo_bpm=(120, 128), scales=(_MINOR,), progressions=((0, 5, 2, 6), (5, 6, 0, 0), (0, 3, 5, 4)),
        kit="edm", kick=(0, 4, 8, 12), snare=(4, 12), snare_sound="clap", hats=(2, 6, 10, 14),
        fills=False, bass="synth", bass_rhythm="offbeat", chords="supersaw", lead="saw", lead_density=0.45,
        levels_db=_levels(kick=-3.0, snare=-4.0, hats=-11.0, bass=-4.0, chords=-8.0, lead=-8.0),
        section_db=(-3.0, -1.5, 0.0, -4.0, -3.0), velocity_db=0.3, pump=0.65,
        drum_room=(0.3, -15.0), room=(1.4, 0.0), tone=(("high_shelf", 8000.0, 2.0, 0.7),)),
    "pop": _Genre(
        tempo_bpm=(96, 118), humanize_ms=1.5, scales=(_MAJOR,), progressions=((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4)),
        kit="pop", kick=(0, 6, 8), kick_alt=(0, 6, 8, 11), snare=(4, 12), ghost_prob=0.04, open_hats=(14,),
        bass="picked", bass_rhythm="pop", chords="piano", lead="square", lead_density=0.4,
        levels_db=_levels(kick=-3.0, snare=-3.5, hats=-9.0, bass=-7.0, chords=-10.0, lead=-11.0), section_db=(-5.0, -2.5, 0.0, -6.0, -5.0), velocity_db=1.2,
        drum_room=(0.35, -13.0), room=(0.9, -3.0),
        tone=(("high_shelf", 10000.0, 1.5, 0.7),)),
    "rock": _Genre(
        tempo_bpm=(108, 140), humanize_ms=4.0, scales=(_MIXOLYDIAN,), progressions=((0, 6, 3, 0), (0, 3, 4, 3), (5, 3, 0, 4)),
        kit="rock", kick=(0, 6, 8), kick_alt=(0, 6, 8, 10), snare=(4, 12), ghost_prob=0.05, open_hats=(6, 14),
        bass="picked", bass_rhythm="eighths", chords="power", lead="guitar", lead_density=0.45,
        levels_db=_levels(kick=-0.5, snare=-3.0, hats=-15.0, bass=-6.0, chords=-12.0, lead=-11.0),
        section_db=(-4.0, -2.0, 0.0, -5.0, -4.0), velocity_db=1.5, drum_room=(0.45, -11.0), room=(0.7, -8.0),
        tone=(("peak", 1200.0, 1.5, 0.8),)),
    "metal": _Genre(
        tempo_bpm=(140, 168), humanize_ms=2.0, scales=(_PHRYGIAN, _MINOR), progressions=((0, 1, 0, 6), (0, 5, 6, 0), (0, 3, 1, 0)),
        kit="metal", kick=(0, 2, 4, 6, 8, 10, 12, 14), snare=(4, 12), hats=(0, 4, 8, 12),
        bass="picked", bass_rhythm="sixteenths", chords="power", lead="guitar", lead_density=0.5,
        levels_db=_levels(kick=-3.5, snare=-5.5, hats=-12.0, bass=-6.5, chords=-5.0, lead=-8.0),
        section_db=(-1.5, -0.5, 0.0, -2.5, -1.5), velocity_db=0.6, drum_room=(0.35, -13.0), room=(0.6, -10.0),
        tone=(("peak", 3000.0, 3.0, 0.9), ("high_shelf", 9000.0, 1.5, 0.7))),
    "jazz": _Genre(
        tempo_bpm=(112, 176), swing=(0.22, 0.33), humanize_ms=7.0, scales=(_MAJOR,),
        progressions=((1, 4, 0, 5), (0, 5, 1, 4), (2, 5, 1, 4)), chord_size=4, kit="jazz",
        kick=(0, 4, 8, 12), snare=(), snare_sound="brush", hats=(0, 4, 6, 8, 12, 14), fills=False,
        bass="upright", bass_rhythm="walking", chords="comp", lead="sax", lead_density=0.3,
        levels_db=_levels(kick=-16.0, snare=-5.0, hats=-15.0, bass=-4.0, chords=-5.0, lead=-12.0),
        section_db=(-10.0, -6.0, 0.0, -13.0, -9.0), velocity_db=6.0, swell_db=9.0,
        drum_room=(0.7, -9.0), room=(1.0, -4.0), tone=(("high_shelf", 6000.0, -2.5, 0.7),)),
    "classical": _Genre(
        tempo_bpm=(60, 96), beats_per_bar=3, humanize_ms=0.0, scales=(_MAJOR, _HARMONIC_MINOR),
        progressions=((0, 3, 4, 0), (0, 5, 3, 4), (0, 1, 4, 0)), kit="orchestral", kick=(), snare=(), hats=(),
        fills=False, bass="cello", bass_rhythm="sustain", chords="strings", lead="violin", lead_density=0.4,
        levels_db=_levels(kick=-3.0, bass=-7.0, chords=-6.0, lead=-9.0),
        section_db=(-18.0, -9.0, 0.0, -14.0, -16.0), velocity_db=2.5, swell_db=10.0,
        drum_room=(2.0, -3.0), room=(2.2, 1.0), tone=(("high_shelf", 7000.0, -3.0, 0.7),)),
    "lofi": _Genre(
        tempo_bpm=(70, 90), swing=(0.15, 0.25), swing_steps=1, humanize_ms=5.0, scales=(_MAJOR,),
        progressions=((1, 4, 0, 0), (3, 2, 1, 0), (0, 5, 1, 4)), chord_size=5, kit="lofi",
        kick=(0, 7, 10), kick_alt=(0, 7, 10, 13), snare=(4, 12), snare_sound="rim", ghost_prob=0.06,
        bass="sub", bass_rhythm="lofi", chords="rhodes", lead="sine", lead_density=0.25,
        levels_db=_levels(kick=-2.0, snare=3.0, hats=-2.0, bass=-6.0, chords=-9.0, lead=-12.0),
        section_db=(-4.0, -2.0, 0.0, -5.0, -4.0), velocity_db=1.5, drum_room=(0.3, -13.0), room=(0.9, -4.0),
        tone=(("lowpass", 6500.0, 0.0, 0.6), ("low_shelf", 150.0, 1.5, 0.7)), noise="vinyl", noise_db=-46.0),
    "acoustic": _Genre(
        tempo_bpm=(88, 120), swing=(0.0, 0.08), humanize_ms=6.0, scales=(_MAJOR,),
        progressions=((0, 4, 5, 3), (0, 3, 0, 4), (5, 3, 0, 4)), kit="acoustic", kick=(0, 8), snare=(4, 12),
        snare_sound="rim", hats=tuple(range(16)), bass="upright", bass_rhythm="halves", chords="strum",
        lead="flute", lead_density=0.35,
        levels_db=_levels(kick=-5.0, snare=-1.0, hats=-10.0, bass=-3.0, chords=-6.0, lead=-9.0),
        section_db=(-9.0, -5.0, 0.0, -9.0, -8.0), velocity_db=2.5, swell_db=4.0,
        drum_room=(0.6, -9.0), room=(0.9, -4.0), tone=(("high_shelf", 10000.0, 1.5, 0.7),)),
}

#: Default tempo range ``(low, high)`` in BPM per genre.
GENRE_TEMPO_BPM = {name: tuple(float(v) for v in p.tempo_bpm) for name, p in _PROFILES.items()}

# Which drum parts and which pattern variant ("A"/"B", None = silent) play in each section.
_ARRANGEMENT = {
    "intro": {"drums": ("hats",), "bass": None, "chords": "A", "lead": None},
    "verse": {"drums": ("kick", "snare", "hats"), "bass": "A", "chords": "A", "lead": "A"},
    "chorus": {"drums": ("kick", "snare", "hats", "crash", "open"), "bass": "B", "chords": "B", "lead": "B"},
    "break": {"drums": (), "bass": None, "chords": "A", "lead": "A"},
    "outro": {"drums": ("kick", "hats"), "bass": "A", "chords": "A", "lead": None},
}
_ARRANGEMENT_OVERRIDES = {
    "edm": {"intro": {"drums": ("kick", "hats"), "bass": "A", "chords": None},
            "break": {"drums": ("build",)}},
    "trap": {"intro": {"drums": ()}},
    "classical": {"intro": {"drums": ()}, "verse": {"drums": ("roll",)}, "chorus": {"drums": ("timpani",)},
                  "outro": {"drums": (), "lead": "A"}},
    "jazz": {"break": {"drums": ("hats",), "bass": "A"}, "outro": {"drums": ("hats", "kick")}},
    "acoustic": {"intro": {"drums": ()}},
}

_STREAMS = {"tempo": 1, "key": 2, "swing": 3, "drums": 4, "kit": 5, "bass": 6, "chords": 7, "lead": 8,
            "room": 9, "noise": 10}


def _rng(seed: int, genre: str, purpose: str, *more: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), GENRES.index(genre), _STREAMS[purpose], *more])


# ---------------------------------------------------------------- validation
def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_args(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs):
    if not isinstance(genre, str) or genre not in GENRES:
        raise ParameterError(f"genre must be one of {', '.join(GENRES)}; got {genre!r}")
    if not _is_real(duration_s) or not math.isfinite(duration_s) or not 0 < duration_s <= MAX_DURATION_S:
        raise ParameterError(f"duration_s must be a number of seconds in (0, {MAX_DURATION_S:g}]; got {duration_s!r}")
    if (not _is_real(sample_rate) or not math.isfinite(sample_rate) or sample_rate != int(sample_rate)
            or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
        raise ParameterError(f"sample_rate must be a whole number of Hz in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}]; "
                             f"got {sample_rate!r}")
    sample_rate = int(sample_rate)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed must be an int >= 0; got {seed!r}")
    if tempo_bpm is not None and (not _is_real(tempo_bpm) or not math.isfinite(tempo_bpm)
                                  or not TEMPO_RANGE_BPM[0] <= tempo_bpm <= TEMPO_RANGE_BPM[1]):
        raise ParameterError(f"tempo_bpm must be None or in [{TEMPO_RANGE_BPM[0]:g}, {TEMPO_RANGE_BPM[1]:g}] BPM; "
                             f"got {tempo_bpm!r}")
    if not _is_real(peak_dbfs) or not PEAK_RANGE_DBFS[0] <= peak_dbfs <= PEAK_RANGE_DBFS[1]:
        raise ParameterError(f"peak_dbfs must be in [{PEAK_RANGE_DBFS[0]:g}, {PEAK_RANGE_DBFS[1]:g}] dBFS; "
                             f"got {peak_dbfs!r}")
    amounts = _check_faults(faults)
    dc = amounts.get("dc_offset", 0.0)
    if abs(dc) >= 0.5 * 10.0 ** (peak_dbfs / 20.0):
        raise ParameterError(f"dc_offset must be smaller than half the peak ({0.5 * 10 ** (peak_dbfs / 20):.4g} "
                             f"for peak_dbfs={peak_dbfs:g}); got {dc!r}")
    n = int(round(duration_s * sample_rate))
    if n < 1:
        raise ParameterError(f"duration_s={duration_s!r} at sample_rate={sample_rate} gives no samples; "
                             f"use at least {0.5 / sample_rate:.3g} s")
    return sample_rate, int(seed), amounts, n


def _check_faults(faults) -> dict:
    allowed = ", ".join(FAULTS)
    if faults is None:
        return {}
    if isinstance(faults, str):
        faults = (faults,)
    if isinstance(faults, Mapping):
        items = list(faults.items())
    elif isinstance(faults, Iterable):
        items = []
        for name in faults:
            if not isinstance(name, str) or name not in FAULTS:
                raise ParameterError(f"faults must name known faults ({allowed}); got {name!r}")
            items.append((name, FAULT_DEFAULTS[name]))
    else:
        raise ParameterError(f"faults must be a sequence of names or a mapping name -> amount ({allowed}); "
                             f"got {faults!r}")
    out = {}
    for name, amount in items:
        if not isinstance(name, str) or name not in FAULTS:
            raise ParameterError(f"faults must name known faults ({allowed}); got {name!r}")
        lo, hi = FAULT_RANGES[name]
        if not _is_real(amount) or not lo <= amount <= hi:
            raise ParameterError(f"fault {name} amount must be in [{lo:g}, {hi:g}]; got {amount!r}")
        out[name] = float(amount)
    return out


# ---------------------------------------------------------------------- plan
@dataclass
class _Plan:
    genre: str
    g: _Genre
    sample_rate: int
    n: int
    seed: int
    faults: dict
    tempo_bpm: float
    swing: float
    root_pc: int
    scale: tuple
    progression: tuple
    sections: list  # (kind, first_bar, n_bars)
    limit: int = 0  # max samples a pattern being rendered can contribute (0 = no limit)

    @property
    def steps_per_bar(self) -> int:
        return 4 * self.g.beats_per_bar

    @property
    def step_s(self) -> float:
        """Duration of one (unswung) 16th-note step in seconds."""
        return 15.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return self.steps_per_bar * self.step_s

    def step_time_s(self, step):
        """Seconds from a pattern's (bar-aligned) start to ``step`` (16ths, may be fractional), swung."""
        step = np.asarray(step, dtype=np.float64)
        pair = 2.0 * self.g.swing_steps
        half = pair / 2.0
        q, r = np.divmod(step, pair)
        s = self.swing
        r = np.where(r < half, r * (1.0 + s), half * (1.0 + s) + (r - half) * (1.0 - s))
        return (q * pair + r) * self.step_s

    def midi(self, degree: int, low: int) -> int:
        """MIDI note of scale ``degree`` (any int) folded into ``[low, low + 12)``."""
        octave, idx = divmod(int(degree), len(self.scale))
        m = self.root_pc + 12 * octave + self.scale[idx]
        return low + (m - low) % 12

    def chord(self, bar: int) -> int:
        return self.progression[bar % len(self.progression)]

    def arrangement(self, kind: str) -> dict:
        return {**_ARRANGEMENT[kind], **_ARRANGEMENT_OVERRIDES.get(self.genre, {}).get(kind, {})}


def _form(total_bars: int) -> list:
    """Sections (kind, first_bar, n_bars) covering ``total_bars`` (a multiple of 4).

    Short mixes (up to 12 bars, what tests use) skip the intro and run verse,
    chorus, break in 4-bar sections, so even a few seconds have the full band
    and 12 bars have a loud and a quiet part. Longer ones are songs: intro 4,
    then verse 8, chorus 8, break 4, verse 8, chorus 8 (repeating), and an
    outro of 4 bars from 24 bars on.
    """
    if total_bars < 16:
        kinds = ("verse", "chorus", "break")
        return [(kinds[i], 4 * i, 4) for i in range(total_bars // 4)]
    out, bar = [("intro", 0, 4)], 4
    cycle = (("verse", 8), ("chorus", 8), ("break", 4), ("verse", 8), ("chorus", 8))
    end = total_bars - 4 if total_bars >= 24 else total_bars
    i = 0
    while bar < end:
        kind, length = cycle[i % len(cycle)]
        length = min(length, end - bar)
        out.append((kind, bar, length))
        bar += length
        i += 1
    if end < total_bars:
        out.append(("outro", end, 4))
    return out


def _make_plan(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs) -> _Plan:
    sample_rate, seed, amounts, n = _check_args(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs)
    g = _PROFILES[genre]
    if tempo_bpm is None:
        lo, hi = g.tempo_bpm
        tempo_bpm = float(round(_rng(seed, genre, "tempo").uniform(lo, hi)))
    key = _rng(seed, genre, "key")
    root_pc = int(key.integers(0, 12))
    scale = g.scales[int(key.integers(0, len(g.scales)))]
    progression = g.progressions[int(key.integers(0, len(g.progressions)))]
    swing = float(_rng(seed, genre, "swing").uniform(*g.swing)) if g.swing[1] > 0 else 0.0
    plan = _Plan(genre, g, sample_rate, n, seed, amounts, float(tempo_bpm), swing, root_pc, scale, progression, [])
    bars = int(math.ceil(n / sample_rate / plan.bar_s - 1e-9))
    bars = max(4, -(-bars // _BARS_PER_PATTERN) * _BARS_PER_PATTERN)
    plan.sections = _form(bars)
    return plan


# ------------------------------------------------------------- dsp helpers
def _butter(btype: str, hz, sample_rate: int, order: int = 2):
    """Butterworth SOS, or None when the corner is outside the usable band."""
    nyq = 0.5 * sample_rate
    if btype == "bandpass":
        lo, hi = hz
        if hi >= 0.45 * sample_rate:
            btype, hz = "highpass", lo
        else:
            return _ss.butter(order, (lo, hi), btype="bandpass", fs=sample_rate, output="sos")
    if hz >= 0.45 * sample_rate:
        return None if btype == "lowpass" else _ss.butter(order, 0.45 * sample_rate, btype, fs=sample_rate, output="sos")
    if hz <= 0 or hz >= nyq:
        return None
    return _ss.butter(order, hz, btype=btype, fs=sample_rate, output="sos")


def _rbj(kind: str, hz: float, gain_db: float, q: float, sample_rate: int):
    """One RBJ-cookbook biquad as an SOS row (corner clamped below 0.45 * rate)."""
    from .dsp.biquad import rbj
    return rbj(kind, min(hz, 0.45 * sample_rate), gain_db, q, sample_rate).reshape(1, 6)


def _filt(x: np.ndarray, *sections) -> np.ndarray:
    sos = [s for s in sections if s is not None]
    if not sos:
        return x
    return _ss.sosfilt(np.vstack(sos), x, axis=-1)


def _tone_sos(items, sample_rate: int) -> list:
    out = []
    for kind, hz, gain_db, q in items:
        if kind == "lowpass":
            out.append(_butter("lowpass", hz, sample_rate, 2))
        else:
            out.append(_rbj(kind, hz, gain_db, q, sample_rate))
    return out


def _pan(x: np.ndarray, pan: float) -> np.ndarray:
    """Mono -> stereo, constant-power pan law (pan -1 = left, +1 = right)."""
    a = (pan + 1.0) * np.pi / 4.0
    return np.stack([x * math.cos(a), x * math.sin(a)])


def _balance(pan: float) -> np.ndarray:
    """Stereo balance gains (2, 1): constant-power pan law, unity at centre."""
    a = (pan + 1.0) * np.pi / 4.0
    return math.sqrt(2.0) * np.array([[math.cos(a)], [math.sin(a)]])


def _fade_out(x: np.ndarray, n_fade: int) -> np.ndarray:
    n_fade = min(n_fade, x.shape[-1])
    if n_fade > 1:
        x[..., -n_fade:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))
    return x


def _design(spec, sample_rate: int):
    """One filter from a rate-independent description: ``(btype, hz, order)``
    for Butterworth ``lowpass`` / ``highpass`` / ``bandpass`` (``hz`` a pair),
    or ``("peak" | "low_shelf" | "high_shelf", hz, gain_db, q)`` (RBJ)."""
    if spec[0] in ("lowpass", "highpass", "bandpass"):
        return _butter(spec[0], spec[1], sample_rate, spec[2])
    return _rbj(spec[0], spec[1], spec[2], spec[3], sample_rate)


_NOISE_GAIN: dict = {}


def _noise_gain_44k(specs) -> float:
    """Power gain of the filter cascade for white noise at 44.1 kHz (sum of the
    squared impulse response), the reference every rate is normalised to."""
    if specs not in _NOISE_GAIN:
        imp = np.zeros(44100)
        imp[0] = 1.0
        h = _filt(imp, *(_design(sp, 44100) for sp in specs))
        _NOISE_GAIN[specs] = float(np.sum(h * h))
    return _NOISE_GAIN[specs]


def _unit_noise(rng, shape, sample_rate, *specs) -> np.ndarray:
    """Filtered white noise with the same spectral density at every rate.

    White noise of variance ``rate / 44100`` has a density that does not
    depend on the rate; after the filters (``specs``, see :func:`_design`) it
    is scaled to unit RMS *as it would be at 44.1 kHz*. So a hi-hat keeps its
    level in every band the rate can hold (at 96 kHz the extra octave above
    22 kHz does not make it quieter below; at 22.05 kHz it just loses its top).
    """
    x = rng.standard_normal(shape) * math.sqrt(sample_rate / 44100.0)
    x = _filt(x, *(_design(sp, sample_rate) for sp in specs))
    return x / math.sqrt(_noise_gain_44k(tuple(specs)))


def _midi_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


_TABLE_SIZE = 4096
_TABLE_F0_HZ = 16.0          # lowest frequency of the first mip level
_TABLE_LEVELS_PER_OCTAVE = 2
_TABLE_LEVELS = 26           # 16 Hz .. 16 * 2**13 Hz
_TABLES: dict = {}


def _wavetable(kind: str, sample_rate: int) -> np.ndarray:
    """Mip-mapped single-cycle tables ``(levels, N + 1)`` of a band-limited
    saw or square (Fourier series ``sum_k sin(2 pi k phi) / k``, odd ``k``
    only for the square, scaled to peak ~1). Level ``L`` serves fundamentals
    up to ``f_top = 16 Hz * 2**((L + 1) / 2)`` and holds only the partials
    with ``k f_top < min(0.45 rate, 20 kHz)``, so nothing it plays can alias.
    The extra last column repeats the first (wrap-around for interpolation).
    """
    key = (kind, sample_rate)
    if key not in _TABLES:
        limit = min(0.45 * sample_rate, 20000.0)
        n = _TABLE_SIZE
        out = np.zeros((_TABLE_LEVELS, n + 1))
        for lev in range(_TABLE_LEVELS):
            f_top = _TABLE_F0_HZ * 2.0 ** ((lev + 1) / _TABLE_LEVELS_PER_OCTAVE)
            k_max = max(1, min(int(limit // f_top), n // 2 - 1))
            spec = np.zeros(n // 2 + 1, dtype=complex)
            k = np.arange(1, k_max + 1)
            amp = 1.0 / k
            if kind == "square":
                amp[k % 2 == 0] = 0.0
            spec[k] = -0.5j * n * amp          # irfft of -j/2 * n * a_k gives a_k sin(2 pi k phi)
            table = np.fft.irfft(spec, n)
            scale = 2.0 / np.pi if kind == "saw" else 4.0 / np.pi
            out[lev, :n] = table * scale
            out[lev, n] = out[lev, 0]
        _TABLES[key] = out
    return _TABLES[key]


def _phase(freq_hz, n: int, sample_rate: int, phase0: float = 0.0) -> np.ndarray:
    """Phase in cycles, wrapped to [0, 1), of a constant or per-sample frequency."""
    if np.ndim(freq_hz) == 0:
        ph = phase0 + (float(freq_hz) / sample_rate) * np.arange(n)
    else:
        ph = phase0 + np.cumsum(freq_hz) / sample_rate
    return ph - np.floor(ph)


def _table_osc(kind: str, ph: np.ndarray, freq_hz, sample_rate: int) -> np.ndarray:
    """Read the mip level matching each sample's frequency, linear interpolation."""
    tables = _wavetable(kind, sample_rate)
    f = np.abs(np.asarray(freq_hz, dtype=np.float64))
    lev = np.ceil(np.log2(np.maximum(f, _TABLE_F0_HZ) / _TABLE_F0_HZ) * _TABLE_LEVELS_PER_OCTAVE) - 1.0
    lev = np.clip(lev, 0, _TABLE_LEVELS - 1).astype(np.int64)
    pos = ph * _TABLE_SIZE
    i = pos.astype(np.int64)
    frac = pos - i
    flat = tables.ravel()
    base = lev * (_TABLE_SIZE + 1) + i
    y0 = flat[base]
    return y0 + frac * (flat[base + 1] - y0)


def _osc(kind: str, freq_hz, n: int, sample_rate: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited oscillators: sine, saw and square (mip-mapped wavetables,
    see :func:`_wavetable`), warm (sine + a little 2nd and 3rd harmonic)."""
    ph = _phase(freq_hz, n, sample_rate, phase0)
    if kind == "sine":
        return np.sin(2.0 * np.pi * ph)
    if kind in ("saw", "square"):
        return _table_osc(kind, ph, freq_hz, sample_rate)
    if kind == "warm":
        w = 2.0 * np.pi * ph
        return np.sin(w) + 0.18 * np.sin(2.0 * w) + 0.06 * np.sin(3.0 * w)
    raise ValueError(kind)


def _drive(x: np.ndarray, drive: float, sample_rate: int) -> np.ndarray:
    """``tanh(drive x)`` computed at >= 88.2 kHz (polyphase up/down-sampling,
    scipy's Kaiser FIR) so the distortion's harmonics do not fold back."""
    factor = 1
    while sample_rate * factor < 88200:
        factor *= 2
    if factor == 1:
        return np.tanh(drive * x)
    up = _ss.resample_poly(x, factor, 1, axis=-1)
    return _ss.resample_poly(np.tanh(drive * up), 1, factor, axis=-1)[..., : x.shape[-1]]


def _additive(n: int, f0_hz: float, sample_rate: int, n_partials: int, tilt: float, decay_s: float,
              decay_spread: float, max_hz: float = 12000.0) -> np.ndarray:
    """Decaying harmonic partials ``sum_k k**-tilt exp(-t r_k) sin(k w t)``.

    ``r_k = (1 + (k - 1) decay_spread) / decay_s``: higher partials die faster
    (plucked / struck strings). Partials run by the Chebyshev recurrence
    ``sin((k+1)x) = 2 cos(x) sin(kx) - sin((k-1)x)`` and the envelopes by
    ``e_k = e_1 q**(k-1)``; only partials below ``min(max_hz, 0.45 rate)`` sound.
    """
    k_max = int(min(n_partials, max(1, min(max_hz, 0.45 * sample_rate) // f0_hz)))
    t = np.arange(n) / sample_rate
    x = 2.0 * np.pi * f0_hz * t
    s_prev, s = np.zeros(n), np.sin(x)
    c2 = 2.0 * np.cos(x)
    env = np.exp(-t / decay_s)
    q = np.exp(-t * decay_spread / decay_s) if k_max > 1 else None
    out = env * s
    for k in range(2, k_max + 1):
        s_prev, s = s, c2 * s - s_prev
        env = env * q
        out += (k ** -tilt) * env * s
    return out


def _adsr(n: int, sample_rate: int, attack_s: float, decay_s: float, sustain: float, length_s: float,
          release_s: float) -> np.ndarray:
    """Attack-decay-sustain envelope for ``length_s``, then an exponential release."""
    t = np.arange(n) / sample_rate
    env = np.minimum(t / max(attack_s, 1e-4), 1.0) * (sustain + (1.0 - sustain) * np.exp(-t / max(decay_s, 1e-4)))
    off = t >= length_s
    if off.any():
        i = int(np.argmax(off))
        level = env[i - 1] if i > 0 else 0.0
        env[off] = level * np.exp(-(t[off] - length_s) / max(release_s, 1e-4))
    return env


# ------------------------------------------------------------------- rooms
def _room_ir(sample_rate: int, rng, rt60_s: float, wet_db: float) -> np.ndarray:
    """A cheap stereo room, shape ``(2, m)``: a decorrelated exponentially
    decaying noise tail (-60 dB at ``rt60_s``, 20 ms onset) plus 6 early
    reflections per ear (5-45 ms, alternating polarity, about -12 dB re the
    tail), high-passed at 250 Hz (the low end stays dry and coherent, as in a
    real mix) and low-passed at 7 kHz (air absorption).

    The tail's noise is normalised by its envelope energy, so its expected
    power response ``E|H(f)|^2`` is 1 in the pass band at every sample rate;
    ``wet_db`` is then the room's level re the dry sound.
    """
    n = max(8, int(round(min(rt60_s, 3.0) * 1.1 * sample_rate)))
    t = np.arange(n) / sample_rate
    delays = np.sort(rng.uniform(0.005, 0.045, (2, 6)), axis=1)   # parameters first: rate-independent
    gains = rng.uniform(0.5, 1.0, (2, 6)) * np.where(np.arange(6) % 2, -1.0, 1.0) * np.exp(-delays / 0.04)
    env = 10.0 ** (-3.0 * t / rt60_s) * np.minimum(t / 0.02, 1.0)
    ir = rng.standard_normal((2, n)) * (env / math.sqrt(float(np.sum(env * env))))
    for ch in range(2):
        idx = np.round(delays[ch] * sample_rate).astype(int)
        np.add.at(ir[ch], np.minimum(idx, n - 1), 0.15 * gains[ch])
    ir = _filt(ir, _butter("highpass", 250.0, sample_rate, 2), _butter("lowpass", 7000.0, sample_rate, 2))
    return ir * 10.0 ** (wet_db / 20.0)


def _apply_room(x: np.ndarray, ir) -> np.ndarray:
    """Dry stereo ``x`` plus the room fed with its mono sum."""
    if ir is None:
        return x
    wet = _ss.oaconvolve(0.5 * (x[0] + x[1])[None, :], ir, axes=1)
    out = np.zeros((2, wet.shape[1]))
    out[:, : x.shape[1]] = x
    out += wet
    return out


# ------------------------------------------------------------------ faults
def _fault_sos(plan: _Plan) -> list:
    sr, f = plan.sample_rate, plan.faults
    out = []
    if f.get("boomy_lows", 0.0) > 0:
        a = f["boomy_lows"]
        out += [_rbj("low_shelf", 120.0, a, 0.7, sr), _rbj("peak", 75.0, 0.7 * a, 1.2, sr)]
    if f.get("harsh_highs", 0.0) > 0:
        a = f["harsh_highs"]
        out += [_rbj("peak", 3200.0, a, 1.0, sr), _rbj("high_shelf", 6000.0, a, 0.7, sr)]
    return out


def _out_of_phase(x: np.ndarray, plan: _Plan) -> np.ndarray:
    a = plan.faults.get("out_of_phase_bass", 0.0)
    if a <= 0:
        return x
    sr = plan.sample_rate
    d = int(round(0.0007 * sr))
    # zero-phase split, so the band below the corner is in phase with the input and
    # subtracting it really removes it (a causal split's phase would not cancel)
    low = _ss.sosfiltfilt(_butter("lowpass", 200.0, sr, 4), x[1], padtype=None)
    y = x.copy()
    y[1] -= a * low
    if d:
        y[1, d:] -= a * low[:-d]
    else:
        y[1] -= a * low
    return y


# ------------------------------------------------------------------ snippets
class _Builder:
    """Collects snippets (stereo arrays) and their placements for one plan."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        sr = plan.sample_rate
        room = _rng(plan.seed, plan.genre, "room")
        self.drum_ir = _room_ir(sr, room, *plan.g.drum_room)
        self.inst_ir = _room_ir(sr, room, *plan.g.room)
        # genre tone, band limit (18 kHz) and a 20 Hz high-pass as on a mix bus, then the faults
        self.post = (_tone_sos(plan.g.tone, sr) + [_butter("lowpass", 18000.0, sr, 4), _butter("highpass", 20.0, sr, 2)]
                     + _fault_sos(plan))
        self.snippets: list[np.ndarray] = []
        self.rows: list[tuple] = []   # (stem index, start sample, snippet id, gain)

    def finish(self, x: np.ndarray, ir) -> int:
        """Room, genre tone, band limit, faults, tail trim; returns the snippet id."""
        sr = self.plan.sample_rate
        x = np.atleast_2d(x)
        if x.shape[0] == 1:
            x = np.vstack([x, x])
        x = _apply_room(x, ir)
        x = np.concatenate([x, np.zeros((2, int(0.05 * sr)))], axis=1)  # room for filter ringing
        x = _filt(x, *self.post)
        x = _out_of_phase(x, self.plan)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        live = np.flatnonzero(np.max(np.abs(x), axis=0) > peak * 10.0 ** (_LIVE_DB / 20.0)) if peak > 0 else []
        end = int(live[-1]) + 1 if len(live) else 1
        x = _fade_out(np.ascontiguousarray(x[:, :end]), int(0.003 * sr))
        self.snippets.append(x)
        return len(self.snippets) - 1

    def place(self, stem: str, start_s: float, snippet: int, gain_db: float):
        start = int(round(start_s * self.plan.sample_rate))
        if start < self.plan.n:
            self.rows.append((STEMS.index(stem), max(start, 0), snippet, 10.0 ** (gain_db / 20.0)))


# ----------------------------------------------------------------- drums
def _kick(sr, rng, f_start=160.0, f_end=50.0, sweep_s=0.035, decay_s=0.28, click=0.35, drive=1.0):
    n = int(round(decay_s * 6.0 * sr))
    t = np.arange(n) / sr
    # exponential pitch sweep, phase in closed form
    ph = 2.0 * np.pi * (f_end * t + (f_start - f_end) * sweep_s * (1.0 - np.exp(-t / sweep_s)))
    x = np.sin(ph) * np.exp(-t / decay_s)
    nc = min(n, int(round(0.006 * sr)))
    clk = _unit_noise(rng, nc, sr, ("bandpass", (1500.0, 8000.0), 2)) * np.exp(-t[:nc] / 0.0012)
    x[:nc] += click * 0.5 * clk
    if drive > 1.0:
        x = np.tanh(drive * x) / math.tanh(drive)
    return _fade_out(x, int(0.01 * sr))


def _snare(sr, rng, tone_hz=190.0, tone_decay_s=0.06, noise_decay_s=0.15, band=(1500.0, 9000.0), noise=0.45,
           drive=1.0):
    n = int(round(max(tone_decay_s, noise_decay_s) * 6.0 * sr))
    t = np.arange(n) / sr
    tone = (np.sin(2 * np.pi * tone_hz * t) + 0.5 * np.sin(2 * np.pi * 1.63 * tone_hz * t) * np.exp(-t / 0.02))
    tone *= np.exp(-t / tone_decay_s)
    nz = _unit_noise(rng, n, sr, ("bandpass", band, 2)) * np.exp(-t / noise_decay_s)
    x = 0.8 * tone + noise * nz
    if drive > 1.0:   # a saturated (compressed-sounding) snare: less transient, more body
        x = np.tanh(drive * x) / math.tanh(drive)
    return _fade_out(x, int(0.01 * sr))


def _clap(sr, rng):
    n = int(round(0.5 * sr))
    t = np.arange(n) / sr
    env = np.zeros(n)
    for k in range(4):
        t0 = 0.0105 * k
        m = t >= t0
        env[m] += np.exp(-(t[m] - t0) / 0.005) * (0.8 if k < 3 else 0.0)
    m = t >= 0.03
    env[m] += 0.6 * np.exp(-(t[m] - 0.03) / 0.11)
    nz = _unit_noise(rng, (2, n), sr, ("bandpass", (900.0, 6000.0), 2))
    nz[1] = 0.6 * nz[0] + 0.8 * nz[1]  # partly correlated: a clap is a little wide
    return _fade_out(0.5 * nz * env, int(0.01 * sr))


def _rim(sr, rng):
    n = int(round(0.12 * sr))
    t = np.arange(n) / sr
    x = (np.sin(2 * np.pi * 1650 * t) * 0.6 + np.sin(2 * np.pi * 420 * t)) * np.exp(-t / 0.015)
    x += 0.4 * _unit_noise(rng, n, sr, ("highpass", 2000.0, 2)) * np.exp(-t / 0.006)
    return _fade_out(0.6 * x, int(0.005 * sr))


def _brush(sr, rng, decay_s=0.12):
    n = int(round(decay_s * 5 * sr))
    t = np.arange(n) / sr
    env = np.minimum(t / 0.008, 1.0) * np.exp(-t / decay_s)
    return _fade_out(0.3 * _unit_noise(rng, n, sr, ("bandpass", (700.0, 7000.0), 2)) * env, int(0.01 * sr))


def _hat(sr, rng, decay_s=0.035, hp_hz=7000.0):
    n = int(round(decay_s * 6 * sr))
    t = np.arange(n) / sr
    x = _unit_noise(rng, (2, n), sr, ("highpass", hp_hz, 4), ("peak", 10000.0, 6.0, 1.5))
    x[1] = 0.8 * x[0] + 0.6 * x[1]   # stereo overheads: correlation 0.8
    # a little metallic ring: inharmonic partials (TR-808 style ratios)
    ring = sum(np.sin(2 * np.pi * f * t) for f in (3520.0, 5274.0, 6400.0, 8100.0))
    return _fade_out((0.3 * x + 0.03 * ring) * np.exp(-t / decay_s), int(0.004 * sr))


def _cymbal(sr, rng, decay_s=1.3, hp_hz=3500.0, bell=0.0):
    n = int(round(decay_s * 4 * sr))
    t = np.arange(n) / sr
    partials = np.array([2950.0, 4380.0, 5120.0, 6940.0]) * rng.uniform(0.97, 1.03, 4)
    phases = rng.uniform(0.0, 2 * np.pi, 4)
    x = _unit_noise(rng, (2, n), sr, ("highpass", hp_hz, 2), ("lowpass", 14000.0, 2))
    x[1] = 0.7 * x[0] + 0.714 * x[1]   # partly correlated: a cymbal miked in stereo
    x *= 0.3 * np.minimum(t / 0.002, 1.0) * np.exp(-t / decay_s)
    if bell:
        ring = sum(np.sin(2 * np.pi * f * t + ph) for f, ph in zip(partials, phases)) * np.exp(-t / (0.8 * decay_s))
        x += bell * ring
    return _fade_out(x, int(0.01 * sr))


def _shaker(sr, rng):
    n = int(round(0.12 * sr))
    t = np.arange(n) / sr
    env = (t / 0.012) ** 2 * np.exp(2.0 * (1.0 - t / 0.012))
    return _fade_out(0.3 * _unit_noise(rng, n, sr, ("bandpass", (4000.0, 11000.0), 2)) * env,
                     int(0.004 * sr))


def _timpani(sr, rng, f0_hz):
    n = int(round(3.0 * sr))
    t = np.arange(n) / sr
    ratios = (1.0, 1.504, 1.742, 2.0, 2.245, 2.494)
    amps = (1.0, 0.7, 0.45, 0.35, 0.25, 0.18)
    decays = (1.4, 1.1, 0.8, 0.7, 0.55, 0.45)
    x = sum(a * np.exp(-t / d) * np.sin(2 * np.pi * f0_hz * r * t) for r, a, d in zip(ratios, amps, decays))
    x += 0.4 * _unit_noise(rng, n, sr, ("lowpass", 600.0, 2)) * np.exp(-t / 0.015)
    return _fade_out(0.5 * x, int(0.02 * sr))


# (sound name) -> (stem, pan, level trim dB relative to the stem's level)
_DRUM_STEM = {"kick": ("kick", 0.0, 0.0), "timp_root": ("kick", -0.35, 0.0), "timp_fifth": ("kick", -0.35, 0.0),
              "snare": ("snare", 0.05, 0.0), "clap": ("snare", 0.0, 0.0), "rim": ("snare", 0.1, 0.0),
              "brush": ("snare", 0.1, 0.0), "hat": ("hats", 0.35, 0.0), "open": ("hats", 0.35, -3.0),
              "pedal": ("hats", 0.3, 0.0), "crash": ("hats", -0.4, -9.0), "ride": ("hats", 0.45, -4.0),
              "shaker": ("hats", -0.3, 0.0)}


def _drum_kit(plan: _Plan) -> dict:
    """Synthesise the kit's sounds: name -> list of raw (mono or stereo) variants."""
    sr, kit = plan.sample_rate, plan.g.kit
    rng = None   # one generator per variant (set below); parameters are drawn before noise
    j = lambda: rng.uniform(0.97, 1.03)  # noqa: E731 - small variation between variants
    kits = {
        "edm": dict(kick=lambda: _kick(sr, rng, 190 * j(), 52, 0.03, 0.22, 0.5, drive=3.0),
                    clap=lambda: _clap(sr, rng), hat=lambda: _hat(sr, rng, 0.03 * j()),
                    open=lambda: _hat(sr, rng, 0.16 * j()), crash=lambda: _cymbal(sr, rng)),
        "trap": dict(kick=lambda: _kick(sr, rng, 150 * j(), 48, 0.04, 0.3, 0.35, drive=1.5),
                     clap=lambda: _clap(sr, rng), hat=lambda: _hat(sr, rng, 0.025 * j()),
                     open=lambda: _hat(sr, rng, 0.2), crash=lambda: _cymbal(sr, rng)),
        "boombap": dict(kick=lambda: _kick(sr, rng, 130 * j(), 52, 0.05, 0.2, 0.45, drive=1.3),
                        snare=lambda: _snare(sr, rng, 200 * j(), 0.05, 0.13, (1200.0, 7000.0), 0.5),
                        hat=lambda: _hat(sr, rng, 0.03 * j(), 6000.0), open=lambda: _hat(sr, rng, 0.18, 6000.0),
                        crash=lambda: _cymbal(sr, rng)),
        "lofi": dict(kick=lambda: _kick(sr, rng, 110 * j(), 50, 0.05, 0.22, 0.2),
                     rim=lambda: _rim(sr, rng), hat=lambda: _hat(sr, rng, 0.025 * j(), 5000.0),
                     open=lambda: _hat(sr, rng, 0.14, 5000.0), crash=lambda: _cymbal(sr, rng, 1.0, 3000.0)),
        "pop": dict(kick=lambda: _kick(sr, rng, 140 * j(), 52, 0.035, 0.2, 0.45, drive=1.2),
                    snare=lambda: _snare(sr, rng, 195 * j()), hat=lambda: _hat(sr, rng, 0.035 * j()),
                    open=lambda: _hat(sr, rng, 0.22), crash=lambda: _cymbal(sr, rng)),
        "rock": dict(kick=lambda: _kick(sr, rng, 120 * j(), 58, 0.03, 0.15, 0.7),
                     snare=lambda: _snare(sr, rng, 185 * j(), 0.07, 0.17, (1500.0, 10000.0), 0.55),
                     hat=lambda: _hat(sr, rng, 0.04 * j(), 6000.0), open=lambda: _hat(sr, rng, 0.3, 6000.0),
                     crash=lambda: _cymbal(sr, rng, 1.5), ride=lambda: _cymbal(sr, rng, 0.8, 5000.0, 0.05)),
        "metal": dict(kick=lambda: _kick(sr, rng, 140 * j(), 62, 0.02, 0.09, 1.0, drive=2.5),
                      snare=lambda: _snare(sr, rng, 220 * j(), 0.05, 0.14, (2000.0, 11000.0), 0.6, drive=3.0),
                      hat=lambda: _hat(sr, rng, 0.05 * j(), 6000.0), crash=lambda: _cymbal(sr, rng, 1.4, 3000.0),
                      ride=lambda: _cymbal(sr, rng, 0.7, 5000.0, 0.06)),
        "jazz": dict(kick=lambda: _kick(sr, rng, 95 * j(), 62, 0.05, 0.25, 0.1),
                     brush=lambda: _brush(sr, rng, 0.12 * j()), ride=lambda: _cymbal(sr, rng, 1.1 * j(), 5000.0, 0.04),
                     pedal=lambda: _hat(sr, rng, 0.02, 5000.0), crash=lambda: _cymbal(sr, rng, 1.6, 3000.0, 0.02)),
        "acoustic": dict(kick=lambda: _kick(sr, rng, 100 * j(), 55, 0.04, 0.18, 0.25),
                         rim=lambda: _rim(sr, rng), shaker=lambda: _shaker(sr, rng),
                         crash=lambda: _cymbal(sr, rng, 1.2, 4000.0)),
        "orchestral": dict(timp_root=lambda: _timpani(sr, rng, _midi_hz(plan.midi(0, 36))),
                           timp_fifth=lambda: _timpani(sr, rng, _midi_hz(plan.midi(4, 36)))),
    }[kit]
    counts = {"kick": 3, "snare": 3, "clap": 2, "rim": 2, "brush": 4, "hat": 5, "open": 2, "ride": 3, "shaker": 4}
    out = {}
    for si, (name, make) in enumerate(kits.items()):
        out[name] = []
        for v in range(counts.get(name, 1)):
            rng = _rng(plan.seed, plan.genre, "kit", si, v)
            out[name].append(make())
    return out


def _drum_hits(plan: _Plan, rng) -> list:
    """Every drum hit of the song: (sound, bar, step in bar, level dB)."""
    g, spb = plan.g, plan.steps_per_bar
    hits = []
    snare_sound = g.snare_sound
    for si, (kind, first, nbars) in enumerate(plan.sections):
        parts = plan.arrangement(kind)["drums"]
        nxt = plan.sections[si + 1][0] if si + 1 < len(plan.sections) else None
        next_has_drums = nxt is not None and bool(plan.arrangement(nxt)["drums"])
        for b in range(nbars):
            bar = first + b
            last = b == nbars - 1
            phrase_end = b % 4 == 3
            add = lambda s, step, db: hits.append((s, bar, float(step), float(db)))  # noqa: E731
            if plan.genre == "classical":
                if "timpani" in parts and b % 2 == 0:
                    add("timp_root" if b % 4 == 0 else "timp_fifth", 0, 0.0)
                if "roll" in parts and last:  # crescendo roll into the next section
                    for k in range(2 * spb):
                        add("timp_root", k / 2.0, -22.0 + 20.0 * k / (2 * spb))
                continue
            if "build" in parts and b >= nbars - 2:   # EDM snare build in the breakdown
                step = 2 if b < nbars - 1 else 1
                for k in range(0, spb, step):
                    add("clap", k, -18.0 + 16.0 * ((b - nbars + 2) * spb + k) / (2 * spb))
            fill = g.fills and last and next_has_drums and "snare" in parts
            if "kick" in parts:
                steps = g.kick_alt if (phrase_end and g.kick_alt) else g.kick
                if plan.genre == "metal" and kind == "chorus":
                    steps = tuple(range(spb))
                if plan.genre == "trap" and rng.random() < 0.35:
                    steps = tuple(sorted(set(steps) | {int(rng.choice([7, 13, 14]))}))
                for s in steps:
                    add("kick", s, 0.0 if s % 4 == 0 else -1.5)
            if "snare" in parts:
                main = g.snare if not (fill and g.snare == (4, 12)) else (4,)
                for s in main:
                    add(snare_sound, s, 0.0)
                if g.ghost_prob:
                    for s in range(spb):
                        if s not in main and s % 4 and rng.random() < g.ghost_prob:
                            add(snare_sound, s, -15.0)
                if g.snare_sound == "brush":   # jazz comping on the snare
                    for s in range(2, spb, 2):
                        if rng.random() < (0.35 if kind == "chorus" else 0.2):
                            add("brush", s, -4.0 - 8.0 * rng.random())
                    for s in (4, 12):
                        add("brush", s, -6.0)
                if fill:
                    for k, s in enumerate(range(spb - 6, spb)):
                        add(snare_sound, s, -10.0 + 2.0 * k)
            if "hats" in parts:
                sound = {"jazz": "ride", "acoustic": "shaker"}.get(plan.genre, "hat")
                if plan.genre in ("rock", "metal") and kind == "chorus":
                    sound = "ride"
                steps = g.hats
                if plan.genre == "edm":
                    sound = "open"
                roll_until = -1.0
                for s in steps:
                    if s < roll_until:
                        continue
                    if "open" in parts and s in g.open_hats and plan.genre != "edm":
                        add("open", s, -2.0)
                        continue
                    accent = 0.0 if s % 4 == 0 else (-3.0 if s % 2 == 0 else -6.0)
                    if plan.genre == "edm":
                        accent = 0.0
                    if plan.genre == "trap" and s % 4 == 0 and rng.random() < 0.18:  # hat roll over one beat
                        div = int(rng.choice([6, 8]))
                        for k in range(div):
                            add("hat", s + 4.0 * k / div, -7.0 + 5.0 * k / div)
                        roll_until = s + 4.0
                        continue
                    add(sound, s, accent)
                if plan.genre == "jazz":
                    for s in (4, 12):
                        add("pedal", s, -8.0)
                if plan.genre == "edm" and kind == "chorus":
                    for s in range(0, spb, 2):
                        if s not in steps:
                            add("hat", s, -8.0)
            if "crash" in parts and b == 0:
                add("crash", 0, 0.0)
            elif plan.genre in ("rock", "metal", "pop") and b == 0 and kind == "verse" and parts:
                add("crash", 0, -3.0)
    return hits


# ------------------------------------------------------------ pitched parts
# A note: (start step, length in steps, MIDI note, level dB) relative to a 4-bar pattern.
def _bass_notes(plan: _Plan, variant: str, rng) -> list:
    g, spb = plan.g, plan.steps_per_bar
    low = 26 if g.bass == "808" else 28
    notes = []
    for bar in range(_BARS_PER_PATTERN):
        root = plan.midi(plan.chord(bar), low)
        fifth = plan.midi(plan.chord(bar) + 4, low)
        o = bar * spb
        r = g.bass_rhythm
        if r == "kick":
            steps = list(g.kick_alt if (bar == 3 and g.kick_alt) else g.kick)
            if variant == "B" and plan.genre == "trap":
                steps = sorted(set(steps) | {14})
            for i, s in enumerate(steps):
                end = steps[i + 1] if i + 1 < len(steps) else spb
                m = root + (12 if (variant == "B" and i == len(steps) - 1 and rng.random() < 0.5) else 0)
                notes.append((o + s, end - s, m, 0.0))
        elif r in ("eighths", "sixteenths"):
            step = 1 if (r == "sixteenths" and variant == "B") else 2
            for s in range(0, spb, step):
                m = root + (12 if (variant == "B" and r == "eighths" and s % 4 == 2) else 0)
                notes.append((o + s, step * 0.85, m, 0.0 if s % 4 == 0 else -2.0))
        elif r == "pop":
            steps = (0, 3, 6, 8, 11, 14) if variant == "A" else tuple(range(0, spb, 2))
            for i, s in enumerate(steps):
                end = steps[i + 1] if i + 1 < len(steps) else spb
                m = root + (12 if (variant == "B" and s % 4 == 2 and rng.random() < 0.5) else 0)
                notes.append((o + s, (end - s) * 0.9, m, 0.0 if s % 4 == 0 else -2.0))
        elif r == "offbeat":
            steps = (2, 6, 10, 14) if variant == "A" else tuple(s for s in range(spb) if s % 4)
            for s in steps:
                notes.append((o + s, 1.6 if variant == "A" else 0.8, root + 12 * (variant == "B" and s % 4 == 3), 0.0))
        elif r == "walking":
            nxt = plan.midi(plan.chord(bar + 1), low)
            chord_tones = [root, plan.midi(plan.chord(bar) + 2, low), fifth]
            line = [root, int(rng.choice(chord_tones[1:])), int(rng.choice(chord_tones)),
                    nxt + int(rng.choice([-1, 1]))]
            for i, m in enumerate(line):
                notes.append((o + 4 * i, 3.6, m, 0.0 if i in (0, 2) else -2.0))
        elif r == "sustain":
            if variant == "A":
                notes.append((o, spb * 0.98, root, 0.0))
            else:
                notes += [(o, spb * 2 / 3 - 0.2, root, 0.0), (o + spb * 2 / 3, spb / 3 - 0.2, fifth, -2.0)]
        elif r == "lofi":
            notes += [(o, 6, root, 0.0), (o + 10, 4, fifth if variant == "A" else root + 12, -2.0)]
            if variant == "B":
                notes.append((o + 7, 2, root, -4.0))
        elif r == "halves":
            notes += [(o, 7.5, root, 0.0), (o + 8, 7.5, fifth, -1.5)]
            if variant == "B":
                notes.append((o + 14, 1.8, plan.midi(plan.chord(bar + 1), low) - 1, -4.0))
    return sorted(notes)


def _chord_events(plan: _Plan, variant: str, rng) -> list:
    """Chord hits: (start step, length steps, [MIDI notes], level dB)."""
    g, spb = plan.g, plan.steps_per_bar
    kind = g.chords
    low = {"power": 40, "strum": 52, "strings": 55}.get(kind, 53)
    events = []
    for bar in range(_BARS_PER_PATTERN):
        deg = plan.chord(bar)
        if kind == "power":
            root = plan.midi(deg, low)
            notes = [root, root + 7, root + 12]
        else:
            size = g.chord_size + (1 if kind == "strings" and variant == "B" else 0)
            notes = sorted(plan.midi(deg + 2 * i, low) for i in range(size))
            if kind in ("supersaw", "strings") and variant == "B":
                notes.append(notes[0] + 12)
        o = bar * spb
        if kind in ("pad", "supersaw", "strings"):
            events.append((o, spb, notes, 0.0))
        elif kind == "piano":
            hits = ((0, 8), (8, 8)) if variant == "A" else ((0, 4), (4, 4), (8, 4), (12, 3), (14, 2))
            events += [(o + s, l, notes, 0.0 if s % 8 == 0 else -3.0) for s, l in hits]
        elif kind == "rhodes":
            hits = ((0, 6), (10, 6)) if variant == "A" else ((0, 3), (3, 5), (10, 6))
            events += [(o + s, l, notes, 0.0 if s == 0 else -2.5) for s, l in hits]
        elif kind == "comp":
            n_hits = int(rng.integers(2, 4 if variant == "A" else 5))
            starts = sorted(rng.choice(np.arange(0, spb, 2), n_hits, replace=False))
            for s in starts:
                events.append((o + int(s), float(rng.choice([1.5, 2.0, 3.0])), notes, -2.0 - 6.0 * rng.random()))
        elif kind == "power":
            if variant == "A":
                events += [(o + s, 1.8, notes, 0.0 if s % 4 == 0 else -1.5) for s in range(0, spb, 2)]
            else:
                events.append((o, spb * 0.95, notes, 0.0))
        elif kind == "strum":
            hits = ((0, "D"), (4, "D"), (6, "U"), (10, "U"), (12, "D"), (14, "U"))
            if variant == "B":
                hits = hits + ((2, "U"), (8, "D"))
            events += [(o + s, 2.0, notes if d == "D" else notes[::-1], 0.0 if d == "D" else -3.0) for s, d in hits]
    return sorted(events, key=lambda e: e[0])


def _melody(plan: _Plan, variant: str, rng) -> list:
    """A 4-bar monophonic phrase: chord tones on strong beats, steps between."""
    g, spb = plan.g, plan.steps_per_bar
    lo, hi = (67, 86) if g.lead != "bell" else (67, 81)
    if g.lead in ("guitar", "sax"):
        lo, hi = 60, 81
    n_deg = len(plan.scale)
    density = g.lead_density * (0.7 if variant == "A" else 1.1)
    degs = [d for d in range(-14, 28) if lo <= plan.root_pc + 12 * (d // n_deg) + plan.scale[d % n_deg] + 48 <= hi]
    deg_midi = {d: plan.root_pc + 12 * (d // n_deg) + plan.scale[d % n_deg] + 48 for d in degs}
    cur = degs[len(degs) // 2 - (2 if variant == "A" else -2)]
    onsets = []
    for bar in range(_BARS_PER_PATTERN):
        for s in range(0, spb, 2):
            p = density * (1.6 if s % 4 == 0 else 0.8)
            if bar == 3 and s > spb // 2:
                p = 0.0     # breathe at the end of the phrase
            if rng.random() < p or (s == 0 and bar in (0, 2)):
                onsets.append(bar * spb + s + (1 if (g.lead == "bell" and rng.random() < 0.25) else 0))
    notes = []
    for i, on in enumerate(onsets):
        end = onsets[i + 1] if i + 1 < len(onsets) else min(on + 6, _BARS_PER_PATTERN * spb)
        chord = plan.chord(on // spb)
        if on % 4 == 0:  # strong beat: nearest chord tone
            tones = [d for d in degs if (d - chord) % n_deg in (0, 2, 4)]
            cur = min(tones, key=lambda d: (abs(d - cur), rng.random()))
        else:
            cur = int(np.clip(cur + int(rng.choice([-2, -1, -1, 1, 1, 2])), degs[0], degs[-1]))
        length = (end - on) * (0.92 if g.lead in ("violin", "sax", "saw", "sine", "flute") else 0.75)
        notes.append((on, max(length, 0.8), deg_midi[cur], -1.0 * (on % 4 != 0) - 2.0 * rng.random()))
    return notes


def _to_seconds(plan: _Plan, notes, rng) -> list:
    """Notes in steps -> (onset s, duration s, midi, gain) with swing and humanisation."""
    out = []
    hum = plan.g.humanize_ms * 1e-3
    for on, length, m, db in notes:
        t0 = float(plan.step_time_s(on)) + (float(np.clip(rng.normal(0.0, hum), -3 * hum, 3 * hum)) if hum else 0.0)
        t1 = float(plan.step_time_s(on + length))
        out.append((max(t0, 0.0), max(t1 - t0, 0.02), m, 10.0 ** ((db + rng.normal(0.0, plan.g.velocity_db * 0.5)) / 20.0)))
    return out


def _mono_line(plan: _Plan, notes, L: int, *, osc="saw", glide_s=0.0, attack_s=0.01, decay_s=0.3, sustain=0.7,
               release_s=0.08, vib_cents=0.0, vib_hz=5.5, vib_delay_s=0.25, drop_semitones=0.0, drop_s=0.03):
    """A monophonic voice over a whole pattern: continuous phase, optional
    portamento (one-pole glide of log-frequency), delayed vibrato, pitch drop
    at each onset (808), ADSR per note; the amplitude is de-clicked by a 2 ms
    one-pole so legato retriggers do not click."""
    sr = plan.sample_rate
    if not notes:
        return np.zeros(L)
    starts = np.array([int(round(t0 * sr)) for t0, *_ in notes])
    durs = np.array([d for _, d, _, _ in notes])
    logf = np.log2(_midi_hz([m for *_, m, _ in notes]))
    gains = np.array([g for *_, g in notes])
    i = np.arange(L)
    idx = np.searchsorted(starts, i, side="right") - 1
    active = idx >= 0
    idx = np.maximum(idx, 0)
    tn = (i - starts[idx]) / sr
    lf = logf[idx]
    if glide_s > 0:
        a = math.exp(-1.0 / (glide_s * sr))
        lf, _ = _ss.lfilter([1.0 - a], [1.0, -a], lf, zi=[a * lf[0]])
    if drop_semitones:
        lf = lf + (drop_semitones / 12.0) * np.exp(-tn / drop_s)
    if vib_cents:
        depth = np.clip((tn - vib_delay_s) / 0.3, 0.0, 1.0) * (vib_cents / 1200.0)
        lf = lf + depth * np.sin(2 * np.pi * vib_hz * i / sr)
    f = 2.0 ** lf
    y = _osc(osc, f, L, sr) if osc != "bell" else _fm_bell(f, L, sr)
    d = durs[idx]
    env = np.minimum(tn / attack_s, 1.0) * (sustain + (1.0 - sustain) * np.exp(-tn / decay_s))
    off = tn >= d
    env_off = np.minimum(d / attack_s, 1.0) * (sustain + (1.0 - sustain) * np.exp(-d / decay_s))
    env = np.where(off, env_off * np.exp(-(tn - d) / release_s), env) * gains[idx] * active
    b = math.exp(-1.0 / (0.002 * sr))
    env, _ = _ss.lfilter([1.0 - b], [1.0, -b], env, zi=[0.0])
    return y * env


def _fm_bell(f, L, sr):
    """Two-operator FM bell (Chowning 1973): carrier f, modulator 3.5 f, index 1.1."""
    ph = _phase(f, L, sr)
    ph_m = _phase(3.5 * f, L, sr)
    return np.sin(2 * np.pi * ph + 1.1 * np.sin(2 * np.pi * ph_m))


def _pattern_len(plan: _Plan, tail_s: float) -> int:
    """Samples of a 4-bar pattern plus its tail, but no more than the mix can
    use from the pattern's first placement (``plan.limit``, set by the builder:
    rendering is causal, so a shorter render is the same prefix)."""
    full = int(round((plan.bar_s * _BARS_PER_PATTERN + tail_s) * plan.sample_rate))
    return min(full, plan.limit) if plan.limit else full


def _swell(plan: _Plan, L: int, depth_db: float) -> np.ndarray:
    """Phrase dynamics over a 4-bar pattern: -depth dB at its ends, 0 dB mid-phrase."""
    if not depth_db:
        return np.ones(L)
    T = plan.bar_s * _BARS_PER_PATTERN
    sn = np.sin(np.minimum(np.arange(L) * (np.pi / (T * plan.sample_rate)), np.pi))
    return np.exp((-depth_db * math.log(10.0) / 20.0) * (1.0 - sn * np.sqrt(sn)))


def _pump(plan: _Plan, L: int) -> np.ndarray:
    """Sidechain pumping keyed to the (four-on-the-floor) kick: duck and recover each beat."""
    if not plan.g.pump:
        return np.ones(L)
    t = np.arange(L) / plan.sample_rate
    beat = 4 * plan.step_s
    tb = np.mod(t, beat)
    return 1.0 - plan.g.pump * np.exp(-tb / (0.28 * beat)) * np.minimum(tb / 0.001, 1.0)


def _render_bass(plan: _Plan, variant: str, rng) -> np.ndarray:
    g, sr = plan.g, plan.sample_rate
    notes = _to_seconds(plan, _bass_notes(plan, variant, rng), rng)
    L = _pattern_len(plan, 1.0)
    kind = g.bass
    if kind == "808":
        y = _mono_line(plan, notes, L, osc="sine", glide_s=0.045 if plan.genre == "trap" else 0.0, attack_s=0.002,
                       decay_s=1.2, sustain=0.25, release_s=0.06, drop_semitones=7.0, drop_s=0.02)
        y = np.tanh(1.8 * y) / math.tanh(1.8)
    elif kind == "synth":
        y = _mono_line(plan, notes, L, osc="saw", attack_s=0.003, decay_s=0.15, sustain=0.6, release_s=0.03)
        y = _filt(y, _butter("lowpass", 900.0, sr, 2)) + 0.7 * _mono_line(
            plan, [(t, d, m - 12 * (m > 40), a) for t, d, m, a in notes], L, osc="sine", attack_s=0.003,
            decay_s=0.15, sustain=0.7, release_s=0.03)
        y = np.tanh(1.5 * y) / math.tanh(1.5)   # a driven bass: fewer peaks, more harmonics
    elif kind == "cello":
        y = _mono_line(plan, notes, L, osc="saw", glide_s=0.02, attack_s=0.15, decay_s=1.0, sustain=0.85,
                       release_s=0.3, vib_cents=12.0, vib_hz=5.2, vib_delay_s=0.3)
        y = _filt(y, _butter("lowpass", 1500.0, sr, 2), _rbj("peak", 250.0, 3.0, 1.0, sr))
    elif kind == "sub":
        y = _mono_line(plan, notes, L, osc="warm", attack_s=0.01, decay_s=0.6, sustain=0.5, release_s=0.1)
    else:  # picked / upright: plucked additive partials
        y = np.zeros(L)
        up = kind == "upright"
        for t0, dur, m, gain in notes:
            i0 = int(round(t0 * sr))
            n = min(L - i0, int(round((dur + 0.12) * sr)))
            if n <= 0:
                continue
            f0 = float(_midi_hz(m))
            x = _additive(n, f0, sr, 8 if up else 14, 1.6 if up else 1.1, 0.5 if up else 0.8, 1.0 if up else 0.6,
                          max_hz=2500.0)
            x *= _adsr(n, sr, 0.004, 10.0, 1.0, dur, 0.04)
            if up:
                x[: int(0.02 * sr)] += 0.2 * np.sin(2 * np.pi * 55.0 * np.arange(int(0.02 * sr)) / sr)[: n]
            y[i0: i0 + n] += gain * x
    y = y * _swell(plan, L, g.swell_db) * _pump(plan, L)
    return _pan(y, 0.0)


def _render_chords(plan: _Plan, variant: str, rng) -> np.ndarray:
    g, sr = plan.g, plan.sample_rate
    events = _chord_events(plan, variant, rng)
    hum = g.humanize_ms * 1e-3
    L = _pattern_len(plan, 2.0)
    out = np.zeros((2, L))
    kind = g.chords
    if kind in ("pad", "supersaw", "strings"):
        detune = {"pad": (-7.0, 7.0), "supersaw": (-16.0, -5.0, 5.0, 16.0), "strings": (-6.0, 6.0)}[kind]
        attack = {"pad": 0.25, "supersaw": 0.01, "strings": 0.3}[kind]
        for on, length, notes, db in events:
            t0, t1 = float(plan.step_time_s(on)), float(plan.step_time_s(on + length))
            i0 = int(round(t0 * sr))
            dur = t1 - t0
            n = max(0, min(L - i0, int(round((dur + 0.6) * sr))))   # 0 past the limit: draws stay aligned
            env = _adsr(n, sr, attack, 1.0, 0.85, dur, 0.25 if kind != "supersaw" else 0.12)
            for j, m in enumerate(notes):
                for k, cents in enumerate(detune):
                    f = float(_midi_hz(m + cents / 100.0))
                    if kind == "strings":
                        vib = rng.uniform(4.8, 5.8)
                        f = f * 2.0 ** (0.1 / 12 * np.sin(2 * np.pi * vib * np.arange(n) / sr + rng.uniform(0, 6.3)))
                    x = _osc("saw", f, n, sr, rng.random()) * env * (10.0 ** (db / 20.0)) / len(detune)
                    if kind == "strings":   # seating: high voices left, low voices right
                        pan = 0.6 - 1.2 * (j / max(len(notes) - 1, 1)) + (k - 0.5) * 0.3
                    else:
                        pan = -0.75 + 1.5 * k / max(len(detune) - 1, 1)
                    out[:, i0: i0 + n] += _pan(x, pan)
        lp = {"pad": 1400.0, "supersaw": 4500.0 if variant == "A" else 7000.0, "strings": 3800.0}[kind]
        out = _filt(out, _butter("lowpass", lp, sr, 2), _butter("highpass", 160.0, sr, 2))
    elif kind == "power":
        for side, pan in ((0, -0.9), (1, 0.9)):
            track = np.zeros(L)
            for on, length, notes, db in events:
                t0 = float(plan.step_time_s(on)) + float(rng.normal(0.0, 0.004))
                t1 = float(plan.step_time_s(on + length))
                i0 = max(int(round(t0 * sr)), 0)
                n = max(0, min(L - i0, int(round((t1 - t0 + 0.15) * sr))))
                env = _adsr(n, sr, 0.003, 0.15 if variant == "A" else 2.0, 0.4 if variant == "A" else 0.8, t1 - t0, 0.06)
                for m in notes:
                    cents = rng.normal(0.0, 4.0)
                    track[i0: i0 + n] += _osc("saw", float(_midi_hz(m + cents / 100)), n, sr, rng.random()) * env
            track = _filt(track, _butter("lowpass", 2500.0, sr, 2))   # pickup
            track = _drive(track, 5.0 if plan.genre == "metal" else 3.0, sr)   # amp
            track = _filt(track, _butter("highpass", 90.0, sr, 2), _butter("lowpass", 5000.0, sr, 2),
                          _rbj("peak", 1600.0, 3.0, 1.0, sr))        # cabinet
            out += _pan(track, pan)
    else:  # piano, rhodes, comp, strum: additive decaying partials
        params = {"piano": (12, 1.2, 1.6, 0.5), "comp": (12, 1.3, 1.2, 0.6), "rhodes": (5, 2.2, 2.0, 0.8),
                  "strum": (14, 0.9, 1.1, 0.7)}[kind]
        for on, length, notes, db in events:
            t_on = float(plan.step_time_s(on))
            dur = float(plan.step_time_s(on + length)) - t_on
            for j, m in enumerate(notes):
                t0 = t_on + (0.012 * j if kind == "strum" else 0.0) + (abs(rng.normal(0.0, hum)) if hum else 0.0)
                i0 = int(round(t0 * sr))
                vel_db = db + rng.normal(0.0, g.velocity_db * 0.5)
                n = min(L - i0, int(round((dur + 0.25) * sr)))
                if n <= 0:
                    continue
                f0 = float(_midi_hz(m))
                x = _additive(n, f0, sr, *params, max_hz=6000.0 if kind != "strum" else 9000.0)
                x *= _adsr(n, sr, 0.002, 10.0, 1.0, dur, 0.08 if kind != "strum" else 0.15)
                x *= 10.0 ** (vel_db / 20.0) / len(notes) ** 0.5
                pan = np.clip((m - 59) / 10.0, -0.8, 0.8)   # a piano miked in stereo: low left, high right
                if kind == "strum":
                    pan = 0.45 * (1 if j % 2 else -1)
                out[:, i0: i0 + n] += _pan(x, float(pan))
        if kind == "rhodes":    # tremolo (auto-pan) and, in lofi, tape wow
            t = np.arange(L) / sr
            trem = 0.25 * np.sin(2 * np.pi * 3.5 * t)
            out[0] *= 1.0 + trem
            out[1] *= 1.0 - trem
        out = _filt(out, _butter("highpass", 120.0, sr, 2))
    return out * (_swell(plan, L, g.swell_db) * _pump(plan, L))


def _render_lead(plan: _Plan, variant: str, rng) -> np.ndarray:
    g, sr = plan.g, plan.sample_rate
    notes = _to_seconds(plan, _melody(plan, variant, rng), rng)
    L = _pattern_len(plan, 1.5)
    kind = g.lead
    if kind == "bell":
        y = _mono_line(plan, notes, L, osc="bell", attack_s=0.002, decay_s=0.35, sustain=0.0, release_s=0.2,
                       vib_cents=8.0)
    elif kind == "guitar":
        y = _mono_line(plan, notes, L, osc="saw", glide_s=0.015, attack_s=0.004, decay_s=0.8, sustain=0.6,
                       release_s=0.08, vib_cents=25.0, vib_hz=5.8, vib_delay_s=0.2)
        y = _filt(_drive(_filt(y, _butter("lowpass", 3000.0, sr, 2)), 4.0, sr),
                  _butter("highpass", 150.0, sr, 2), _butter("lowpass", 5000.0, sr, 2))
    elif kind == "sax":
        y = _mono_line(plan, notes, L, osc="square", glide_s=0.02, attack_s=0.03, decay_s=0.5, sustain=0.75,
                       release_s=0.06, vib_cents=15.0, vib_hz=5.0)
        y = _filt(y, _butter("lowpass", 2200.0, sr, 2), _rbj("peak", 1100.0, 4.0, 1.2, sr))
    elif kind == "violin":
        y = _mono_line(plan, notes, L, osc="saw", glide_s=0.03, attack_s=0.08, decay_s=1.0, sustain=0.9,
                       release_s=0.2, vib_cents=22.0, vib_hz=6.0, vib_delay_s=0.15)
        y = _filt(y, _butter("lowpass", 5000.0, sr, 2), _rbj("peak", 2800.0, 4.0, 1.5, sr),
                  _butter("highpass", 180.0, sr, 2))
    elif kind in ("flute", "sine"):
        y = _mono_line(plan, notes, L, osc="warm", glide_s=0.01, attack_s=0.04, decay_s=0.6, sustain=0.8,
                       release_s=0.08, vib_cents=14.0 if kind == "flute" else 6.0, vib_hz=5.0)
        if kind == "flute":   # breath
            breath = _unit_noise(rng, L, sr, ("bandpass", (1500.0, 5000.0), 2))
            y = y + 0.04 * breath * np.abs(y)
    else:  # saw / square synth leads
        y = _mono_line(plan, notes, L, osc=kind, glide_s=0.012, attack_s=0.005, decay_s=0.4, sustain=0.7,
                       release_s=0.08, vib_cents=18.0, vib_hz=5.6)
        y = _filt(y, _butter("lowpass", 4500.0 if kind == "saw" else 3500.0, sr, 2))
    y = y * _swell(plan, L, g.swell_db)
    # double a little to the side so the lead is not dead centre
    d = int(round(0.011 * sr))
    out = _pan(y, -0.1)
    out[1, d:] += 0.25 * y[:-d] if d else 0.25 * y
    return out


def _noise_loop(plan: _Plan) -> np.ndarray:
    """The mix's noise floor as a loop (hiss; vinyl crackle for lofi)."""
    sr = plan.sample_rate
    loop_s = 7.3 if plan.g.noise == "vinyl" else 3.1
    n = min(int(round(loop_s * sr)), plan.n)   # a mix shorter than the loop never wraps
    lp = ("lowpass", 12000.0, 1)
    x = 0.3 * np.stack([_unit_noise(_rng(plan.seed, plan.genre, "noise", ch), n, sr, lp) for ch in range(2)])
    if plan.g.noise == "vinyl":
        rng = _rng(plan.seed, plan.genre, "noise", 2)
        k = int(loop_s * 25)
        pos = np.round(rng.uniform(0.0, loop_s, k) * sr).astype(np.int64)
        amp = rng.pareto(2.5, k) * 4.0 * rng.choice([-1.0, 1.0], k)
        ch = rng.integers(0, 2, k)
        keep = pos < n
        clicks = np.zeros((2, n))
        np.add.at(clicks, (ch[keep], pos[keep]), amp[keep])
        clicks[1] += 0.5 * clicks[0]
        x += _filt(clicks, _butter("bandpass", (300.0, 5000.0), sr, 2))
    return x


# ---------------------------------------------------------------- the score
@dataclass
class _Score:
    plan: _Plan
    snippets: list
    stem: np.ndarray
    start: np.ndarray
    snip: np.ndarray
    gain: np.ndarray
    length: np.ndarray
    noise: np.ndarray
    noise_gain: float


def _build(plan: _Plan) -> _Score:
    b = _Builder(plan)
    g = plan.g
    lv = g.levels_db
    sec_db = dict(zip(_SECTIONS, g.section_db))
    # drums: raw kit -> panned, roomed, filtered snippets; one placement per hit
    kit = _drum_kit(plan) if g.kit else {}
    ids = {}
    for name, variants in kit.items():
        stem, pan, _ = _DRUM_STEM[name]
        ids[name] = [b.finish(_pan(v, pan) if v.ndim == 1 else v * _balance(pan), b.drum_ir) for v in variants]
    drng = _rng(plan.seed, plan.genre, "drums")
    hum = g.humanize_ms * 1e-3
    kind_of_bar = {}
    for kind, first, nbars in plan.sections:
        for bar in range(first, first + nbars):
            kind_of_bar[bar] = kind
    for name, bar, step, db in _drum_hits(plan, drng):
        if name not in ids:
            continue
        t = bar * plan.bar_s + float(plan.step_time_s(step))
        if hum and t > 0:
            t += float(np.clip(drng.normal(0.0, hum), -3 * hum, 3 * hum))
        v = ids[name][int(drng.integers(0, len(ids[name])))]
        stem, _, trim = _DRUM_STEM[name]
        level = db + trim + sec_db[kind_of_bar[bar]] + lv[stem] + drng.normal(0.0, g.velocity_db * 0.5)
        b.place(stem, t, v, level)
    # pitched parts: one snippet per (part, variant) actually used, placed every 4 bars
    renderers = {"bass": (_render_bass, None), "chords": (_render_chords, "inst"), "lead": (_render_lead, "inst")}
    cache = {}
    for kind, first, nbars in plan.sections:
        arr = plan.arrangement(kind)
        for part, (render, room) in renderers.items():
            variant = arr[part]
            if variant is None:
                continue
            for bar in range(first, first + nbars, _BARS_PER_PATTERN):
                start_s = bar * plan.bar_s
                if int(round(start_s * plan.sample_rate)) >= plan.n:
                    break
                if (part, variant) not in cache:
                    rng = _rng(plan.seed, plan.genre, part, ord(variant))
                    # what the mix can hear of it, plus a margin for filter and fade edges
                    plan.limit = plan.n - int(round(start_s * plan.sample_rate)) + int(0.25 * plan.sample_rate)
                    cache[part, variant] = b.finish(render(plan, variant, rng), b.inst_ir if room else None)
                    plan.limit = 0
                b.place(part, start_s, cache[part, variant], sec_db[kind] + lv[part])
    rows = b.rows
    stem = np.array([r[0] for r in rows], dtype=np.int64)
    start = np.array([r[1] for r in rows], dtype=np.int64)
    snip = np.array([r[2] for r in rows], dtype=np.int64)
    gain = np.array([r[3] for r in rows], dtype=np.float64)
    length = np.array([b.snippets[i].shape[1] for i in snip], dtype=np.int64)
    # the noise floor goes through the same tone / fault filters as every stem
    loop = _noise_loop(plan)
    loop = _out_of_phase(_filt(loop, *b.post), plan)
    return _Score(plan, b.snippets, stem, start, snip, gain, length, loop, 10.0 ** (g.noise_db / 20.0))


def _render(score: _Score, a: int, z: int, stems=None) -> np.ndarray:
    """Raw (unscaled) samples ``[a, z)``: ``(2, z - a)`` summed, or
    ``(len(stems), 2, z - a)`` for the stem indices ``stems``."""
    n = z - a
    if stems is None:
        out = np.zeros((2, n))
        target = lambda k: out  # noqa: E731
    else:
        out = np.zeros((len(stems), 2, n))
        where = {k: i for i, k in enumerate(stems)}
        target = lambda k: out[where[k]] if k in where else None  # noqa: E731
    sel = np.flatnonzero((score.start < z) & (score.start + score.length > a))
    for i in sel:
        buf = target(int(score.stem[i]))
        if buf is None:
            continue
        s0 = int(score.start[i])
        lo, hi = max(s0, a), min(s0 + int(score.length[i]), z)
        x = score.snippets[score.snip[i]]
        buf[:, lo - a: hi - a] += score.gain[i] * x[:, lo - s0: hi - s0]
    buf = target(STEMS.index("noise"))
    if buf is not None:
        loop, m = score.noise, score.noise.shape[1]
        pos = a
        while pos < z:
            k = pos % m
            take = min(m - k, z - pos)
            buf[:, pos - a: pos - a + take] += score.noise_gain * loop[:, k: k + take]
            pos += take
    return out


def _scale_for(smax: float, smin: float, peak: float, dc: float) -> float:
    """Gain g > 0 with max |g s + dc| == peak for s in [smin, smax]."""
    cands = []
    if smax > 0:
        cands.append((peak - dc) / smax)
    if smin < 0:
        cands.append((peak + dc) / -smin)
    return min(cands) if cands else 1.0


def _peak_sample(smax: float, at_max, smin: float, at_min, g: float, dc: float, peak: float):
    """Which extreme of the raw sum becomes the exact peak after ``g s + dc``:
    ``(position, sign)``. Ties go to the first position in C order, as
    ``np.argmax(np.abs(y))`` over the whole mix would choose."""
    y_hi = min(abs(g * smax + dc), peak)
    y_lo = min(abs(g * smin + dc), peak)
    if y_hi > y_lo or (y_hi == y_lo and at_max < at_min):
        return at_max, math.copysign(1.0, g * smax + dc)
    return at_min, math.copysign(1.0, g * smin + dc)


def _finalise(s: np.ndarray, dc: float, peak: float) -> np.ndarray:
    """In place: ``g s + dc`` with ``g`` from :func:`_scale_for`, clipped to
    +-peak (a change of one ulp at most), the peak sample set exactly."""
    i_max, i_min = int(np.argmax(s)), int(np.argmin(s))
    smax, smin = float(s.flat[i_max]), float(s.flat[i_min])
    g = _scale_for(smax, smin, peak, dc)
    s *= g
    if dc:
        s += dc
    np.clip(s, -peak, peak, out=s)
    if smax > smin or smax != 0.0:
        at, sign = _peak_sample(smax, i_max, smin, i_min, g, dc, peak)
        s.flat[at] = sign * peak
    return s


# ------------------------------------------------------------------- public
def make_mix(genre: str = "pop", duration_s: float = 30.0, sample_rate: int = 44100, seed: int = 0, *,
             tempo_bpm: float | None = None, faults=(), peak_dbfs: float = -3.0) -> np.ndarray:
    """A seeded procedural stereo mix that behaves like a rough, unmastered one.

    Parameters
    ----------
    genre : str
        One of :data:`GENRES`.
    duration_s : float
        Length in seconds, ``0 < duration_s <= 21600`` (must give at least one
        sample). Up to 12 bars (about 20-30 s) the mix is verse, chorus and
        break of 4 bars each, so even a few seconds have the full band; longer
        mixes are songs (4-bar intro, then verse 8 / chorus 8 / break 4 /
        verse 8 / chorus 8 repeating, and a 4-bar outro from 24 bars on).
        :func:`describe` gives the sections.
    sample_rate : int
        In Hz, a whole number in [22050, 192000]. Everything (filters,
        oscillators, noise bandwidths) is designed for it; the notes, tempo
        and arrangement do not depend on it.
    seed : int
        ``>= 0``. Same arguments -> bit-identical output; another seed ->
        other tempo (within the genre's range), key, progression, melody,
        drum variations and noise.
    tempo_bpm : float or None
        In [40, 250] BPM; None draws one from :data:`GENRE_TEMPO_BPM`.
    faults : sequence of str or mapping str -> float
        Names from :data:`FAULTS` (default amounts :data:`FAULT_DEFAULTS`),
        or a mapping name -> amount within :data:`FAULT_RANGES`.
    peak_dbfs : float
        Sample peak of the result in dBFS, in [-80, 6]; met exactly, also
        with the DC fault (which is added after scaling; the mean offset is
        then the requested value to within the music's own mean, < 1e-4).

    Returns
    -------
    ndarray, shape ``(2, round(duration_s * sample_rate))``, float64
        Finite samples.

    Raises
    ------
    ParameterError
        For an unknown genre or fault, a duration <= 0, a rate outside
        [22050, 192000], a seed that is not an int >= 0, or another value out
        of range; the message lists the allowed values.
    """
    plan = _make_plan(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs)
    score = _build(plan)
    s = _render(score, 0, plan.n)
    return _finalise(s, plan.faults.get("dc_offset", 0.0), 10.0 ** (peak_dbfs / 20.0))


def make_stems(genre: str = "pop", duration_s: float = 30.0, sample_rate: int = 44100, seed: int = 0, *,
               tempo_bpm: float | None = None, faults=(), peak_dbfs: float = -3.0, names=None) -> dict:
    """The mix of :func:`make_mix` (same arguments) as named stereo stems.

    Each stem is scaled by the same gain as the mix and carries the linear
    faults (``boomy_lows``, ``harsh_highs``, ``out_of_phase_bass``), so
    ``sum(stems.values()) + dc == make_mix(...)`` to within 1e-12, where
    ``dc`` is the ``dc_offset`` amount when requested (it belongs to no stem).

    Parameters
    ----------
    genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs
        As in :func:`make_mix`.
    names : sequence of str, optional
        Stems to return (a subset of :data:`STEMS`; default all). Stems take
        ``16 * n`` bytes each, so a 5-minute 44.1 kHz set of seven is ~1.5 GB.

    Returns
    -------
    dict str -> ndarray of shape ``(2, n)``, float64
        Keys in :data:`STEMS` order: ``kick`` (the genre's low drum; timpani
        in classical), ``snare``, ``hats`` (all cymbals), ``bass``,
        ``chords``, ``lead``, ``noise`` (noise floor). Silent where a genre
        has no such part. The kick stem is time-aligned with the mix, usable
        as an external sidechain.
    """
    plan = _make_plan(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs)
    if names is None:
        names = STEMS
    if isinstance(names, str) or not all(isinstance(k, str) and k in STEMS for k in names):
        raise ParameterError(f"names must be a sequence of stem names from {', '.join(STEMS)}; got {names!r}")
    score = _build(plan)
    idx = [STEMS.index(k) for k in STEMS if k in names]
    s = _render(score, 0, plan.n)   # the raw mix, summed exactly as make_mix sums it: the same gain
    g = _scale_for(float(s.max()), float(s.min()), 10.0 ** (peak_dbfs / 20.0), plan.faults.get("dc_offset", 0.0))
    del s
    parts = _render(score, 0, plan.n, idx)
    parts *= g
    return {STEMS[k]: parts[i] for i, k in enumerate(idx)}


def describe(genre: str = "pop", duration_s: float = 30.0, sample_rate: int = 44100, seed: int = 0, *,
             tempo_bpm: float | None = None) -> dict:
    """The musical plan of a mix with these arguments (nothing is rendered).

    Returns
    -------
    dict
        ``tempo_bpm`` (float), ``beats_per_bar`` (4, or 3 for classical),
        ``swing`` (fraction of the swing unit the off-beat is delayed by),
        ``key`` (e.g. ``"F# minor"``), ``sections`` (list of
        ``(kind, start_s, n_bars)``), ``bar_s``.
    """
    plan = _make_plan(genre, duration_s, sample_rate, seed, tempo_bpm, (), -3.0)
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    mode = {_MAJOR: "major", _MINOR: "minor", _MIXOLYDIAN: "mixolydian", _PHRYGIAN: "phrygian",
            _HARMONIC_MINOR: "harmonic minor"}[plan.scale]
    return {"genre": genre, "tempo_bpm": plan.tempo_bpm, "beats_per_bar": plan.g.beats_per_bar,
            "swing": plan.swing, "key": f"{names[plan.root_pc]} {mode}", "bar_s": plan.bar_s,
            "sections": [(k, first * plan.bar_s, nb) for k, first, nb in plan.sections]}


def write_demo(path, genre: str = "pop", duration_s: float = 30.0, sample_rate: int = 44100, seed: int = 0, *,
               subtype: str | None = "PCM_24", return_audio: bool = True, chunk_s: float = 30.0, **kw):
    """Write a demo mix to ``path`` (24-bit WAV by default) and return it.

    Parameters
    ----------
    path : str or path-like
        Output file; the format follows the extension (``.wav``, ``.flac``,
        ``.aiff``, ``.ogg``, ... as libsndfile knows them).
    genre, duration_s, sample_rate, seed, **kw
        As in :func:`make_mix` (``tempo_bpm``, ``faults``, ``peak_dbfs``;
        ``peak_dbfs`` must be <= 0 since the file is fixed-point).
    subtype : str or None
        libsndfile subtype, default ``"PCM_24"``; None lets soundfile choose
        (needed for e.g. OGG Vorbis).
    return_audio : bool
        True (default): render in one piece and return the ``(2, n)`` float64
        mix, equal to ``make_mix(...)``. False: render and write in chunks of
        ``chunk_s`` seconds in two passes (peak, then scaled audio) with
        bounded memory - for hour-long files - and return None. Both write the
        same samples.

    Raises
    ------
    ParameterError
        For bad mix arguments (see :func:`make_mix`).
    AudioFileError
        When the file cannot be written.
    """
    import soundfile as sf

    peak_dbfs = kw.pop("peak_dbfs", -3.0)
    tempo_bpm = kw.pop("tempo_bpm", None)
    faults = kw.pop("faults", ())
    if kw:
        raise ParameterError(f"write_demo got unknown arguments {sorted(kw)}; allowed: tempo_bpm, faults, peak_dbfs")
    if _is_real(peak_dbfs) and peak_dbfs > 0:
        raise ParameterError(f"peak_dbfs must be <= 0 dBFS for a fixed-point file; got {peak_dbfs!r}")
    if not _is_real(chunk_s) or not chunk_s >= 0.1:
        raise ParameterError(f"chunk_s must be >= 0.1 s; got {chunk_s!r}")
    plan = _make_plan(genre, duration_s, sample_rate, seed, tempo_bpm, faults, peak_dbfs)
    try:
        f = sf.SoundFile(str(path), "w", samplerate=plan.sample_rate, channels=2, subtype=subtype)
    except (RuntimeError, TypeError, ValueError, OSError) as e:
        raise AudioFileError(f"cannot write demo file {str(path)!r}: {e}") from e
    with f:
        if return_audio:
            y = make_mix(genre, duration_s, sample_rate, seed, tempo_bpm=tempo_bpm, faults=faults,
                         peak_dbfs=peak_dbfs)
            f.write(y.T)
            return y
        _write_chunked(f, plan, peak_dbfs, int(round(chunk_s * plan.sample_rate)))
    return None


def _write_chunked(f, plan: _Plan, peak_dbfs: float, chunk: int):
    """Two passes over windows of ``chunk`` samples: extremes, then scaled audio.
    Writes exactly what :func:`make_mix` returns."""
    score = _build(plan)
    n = plan.n
    smax, smin = -np.inf, np.inf
    at_max = at_min = -1   # flat C-order index into (2, n), first occurrence
    for a in range(0, n, chunk):
        z = min(a + chunk, n)
        s = _render(score, a, z)
        for ch in range(2):
            i, j = int(np.argmax(s[ch])), int(np.argmin(s[ch]))
            pi, pj = ch * n + a + i, ch * n + a + j
            if s[ch, i] > smax or (s[ch, i] == smax and pi < at_max):
                smax, at_max = float(s[ch, i]), pi
            if s[ch, j] < smin or (s[ch, j] == smin and pj < at_min):
                smin, at_min = float(s[ch, j]), pj
    dc = plan.faults.get("dc_offset", 0.0)
    peak = 10.0 ** (peak_dbfs / 20.0)
    g = _scale_for(smax, smin, peak, dc)
    at, sign = _peak_sample(smax, at_max, smin, at_min, g, dc, peak)
    fix_ch, fix_i = divmod(at, n)
    for a in range(0, n, chunk):
        z = min(a + chunk, n)
        s = _render(score, a, z)
        s *= g
        if dc:
            s += dc
        np.clip(s, -peak, peak, out=s)
        if (smax > smin or smax != 0.0) and a <= fix_i < z:
            s[fix_ch, fix_i - a] = sign * peak
        f.write(s.T)
