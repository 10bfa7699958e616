"""Registry cases (and shared measurement helpers) for the oversampled
nonlinear stages of issue 4: ``SoftClipper``, ``TubeSaturator``, ``ParallelDrive``."""
from __future__ import annotations

import numpy as np

from registry import Case

import neuromaster as nm

CASES = [
    # driven into the knee so that every parameter has something to change
    Case("SoftClipper", lambda: nm.SoftClipper(drive_db=6.0, ceiling_db=-2.0), channels=(1, 2, 3),
         changes={"oversampling": 1}),
    Case("TubeSaturator", lambda: nm.TubeSaturator(drive_db=6.0), channels=(1, 2, 3),
         changes={"oversampling": 1}),
    Case("ParallelDrive", lambda: nm.ParallelDrive(), channels=(1, 2, 3),
         changes={"oversampling": 1}),
]


def harmonic_spectrum(proc, amplitude: float = 1.0, frequency_hz: int = 7000, sample_rate: int = 44100,
                      settle_s: float = 1.0) -> np.ndarray:
    """Amplitude spectrum (1 Hz bins, peak-scaled) of the stage's response to a
    steady sine, taken over exactly one second after ``settle_s`` of settling.

    The sine has an integer frequency, so every harmonic and every alias sits
    on a bin (rectangular window, no leakage). The window ends well before the
    end of the render (whose last samples see the zeros appended for latency
    compensation).
    """
    n = int(sample_rate)
    s0 = int(settle_s * sample_rate)
    t = np.arange(s0 + n + 8192) / sample_rate
    x = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    y = proc(x, sample_rate).astype(np.float64)[s0:s0 + n]
    return np.abs(np.fft.rfft(y)) / (n / 2)


def aliasing_dbc(proc, amplitude: float = 1.0, frequency_hz: int = 7000, sample_rate: int = 44100,
                 settle_s: float = 1.0):
    """Aliasing of a steady sine through ``proc``.

    Returns ``(worst_dbc, total_dbc)``: the strongest non-harmonic component
    and the summed power of all non-harmonic components (DC counts as a
    harmonic), both relative to the fundamental.
    """
    spec = harmonic_spectrum(proc, amplitude, frequency_hz, sample_rate, settle_s)
    fund = spec[frequency_hz]
    harmonic = np.zeros(spec.size, dtype=bool)
    harmonic[::frequency_hz] = True
    al = spec[~harmonic]
    worst = 20 * np.log10(max(al.max(), 1e-300) / fund)
    total = 10 * np.log10(max(np.sum(al ** 2), 1e-300) / fund ** 2)
    return float(worst), float(total)


def harmonics_dbc(proc, amplitude: float, frequency_hz: int = 1000, sample_rate: int = 44100, settle_s: float = 1.0,
                  orders=(2, 3)):
    """Levels of the given harmonics relative to the fundamental (dBc), and the
    fundamental's level relative to the input amplitude (dB)."""
    spec = harmonic_spectrum(proc, amplitude, frequency_hz, sample_rate, settle_s)
    fund = spec[frequency_hz]
    return [float(20 * np.log10(max(spec[k * frequency_hz], 1e-300) / fund)) for k in orders], float(20 * np.log10(fund / amplitude))
