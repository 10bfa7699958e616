"""Registry cases for the magnetic stages of issue 4: ``TransformerSaturator``
and ``TapeSaturator`` (driven so that every parameter has something to change)."""
from __future__ import annotations

from registry import Case

import neuromaster as nm

CASES = [
    # +9 dB drive puts the 55-65 Hz content of the default signal into the core's knee
    Case("TransformerSaturator", lambda: nm.TransformerSaturator(drive_db=9.0), channels=(1, 2, 3),
         changes={"oversampling": 1}),
    Case("TapeSaturator", lambda: nm.TapeSaturator(drive_db=6.0), channels=(1, 2, 3),
         changes={"oversampling": 1, "wow_flutter": 1.0},
         context={"hiss_db": {"hiss": True}}),
]
