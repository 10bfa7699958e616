"""Registry of processors for the generic property suite.

Every ``host_tests/cases_*.py`` module defines ``CASES``: a list of
:class:`Case`. ``test_contract.py`` parametrises the contract properties
over all of them, and fails if an exported stage has no case.
"""
from __future__ import annotations

import importlib
import pathlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

HERE = pathlib.Path(__file__).parent


def default_signal(sample_rate: float, n: int, channels: int, seed: int = 0) -> np.ndarray:
    """A short music-like test signal: low and mid tones, noise bursts, a
    level envelope spanning ~30 dB, different in every channel, peak ~-3 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    out = np.empty((channels, n))
    for c in range(channels):
        env = 0.55 + 0.45 * np.sin(2 * np.pi * (1.7 + 0.3 * c) * t + c)  # slow level movement
        bursts = (np.sin(2 * np.pi * 6.0 * t + 0.5 * c) > 0.6).astype(float)
        x = (0.5 * np.sin(2 * np.pi * (55.0 + 10 * c) * t)
             + 0.3 * np.sin(2 * np.pi * (997.0 + 31 * c) * t + c)
             + 0.25 * bursts * rng.standard_normal(n)
             + 0.05 * rng.standard_normal(n))
        out[c] = x * env ** 3
    return 0.7 * out / np.max(np.abs(out))


@dataclass
class Case:
    """One processor configuration for the property suite.

    factory
        Returns a new processor set up so that it *does something* on
        ``signal`` (a compressor that compresses, an EQ with bands on).
    signal
        ``(sample_rate, n, channels, seed) -> (channels, n)`` float64.
    changes
        param -> value to switch to for the "every parameter changes the
        output" test; parameters not listed get a value picked from their
        range automatically.
    context
        param -> dict of other settings needed before the change can matter
        (e.g. a band's gain needs the band enabled).
    exempt
        param -> reason it cannot change this output (each needs a reason).
    linked
        True if channels interact (stereo link, M/S): skips the
        "multichannel equals per-channel" test.
    channels
        Channel counts to test.
    chunk_atol
        Tolerance for chunk/stream invariance (the contract says 1e-6).
    """

    name: str
    factory: Callable
    signal: Callable = default_signal
    changes: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)
    exempt: dict = field(default_factory=dict)
    linked: bool = False
    channels: tuple = (1, 2)
    chunk_atol: float = 1e-6
    sample_rate: float = 44100.0

    def __repr__(self):
        return self.name


def all_cases() -> list[Case]:
    cases = []
    for path in sorted(HERE.glob("cases_*.py")):
        mod = importlib.import_module(f"{path.stem}")
        cases.extend(mod.CASES)
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise RuntimeError(f"duplicate case names: {sorted(dup)}")
    return cases
