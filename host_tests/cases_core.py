"""Registry cases: core stages written with the contract (Gain)."""
from registry import Case

import neuromaster as nm

CASES = [
    Case("Gain", lambda: nm.Gain(gain_db=-4.5), channels=(1, 2, 3)),
]
