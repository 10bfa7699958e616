"""neuromaster: a scriptable mastering chain.

Stages are pedalboard-compatible processors::

    import neuromaster as nm
    y = nm.Gain(gain_db=-3)(x, 44100)

See DESIGN.md for the architecture and the processor contract.
"""
from .errors import (AudioFileError, AudioTypeError, NeuromasterError, NonFiniteAudioError, ParameterError,
                     PresetError)
from .params import Param
from .processor import CONTROL_INTERVAL, Processor
from .chain import Chain, Mix
from .graph import Graph, ThirdPartyPlugin  # host bridge; imports dawdreamer before any numba stage

# --- stages (one import line per stage module) -------------------------------
from .stages.gain import Gain
from .stages.dc_blocker import DCBlocker
from .stages.mid_side import MidSide
from .stages.dither import Dither
from .stages.eq import ParametricEQ
from .stages.softclipper import SoftClipper
from .stages.tube import TubeSaturator
from .stages.parallel_drive import ParallelDrive
from .stages.transformer import TransformerSaturator
from .stages.tape import TapeSaturator
from .stages.compressor import Compressor
from .stages.multiband import MultibandCompressor
from .stages.dynamic_eq import DynamicEQ
from .stages.width import StereoWidth
from .stages.limiter import TruePeakLimiter
# --- end stages ---------------------------------------------------------------
from .mastering import MasteringChain

__version__ = "0.1.0"


#: Lazily imported names: attribute -> (module, name or None for the module itself).
_LAZY = {
    "analyze": ("analysis", "analyze"), "analyze_file": ("analysis", "analyze_file"),
    "Meter": ("analysis", "Meter"), "LoudnessMeter": ("analysis", "LoudnessMeter"),
    "master": ("loudness_target", "master"), "master_file": ("loudness_target", "master_file"),
    "load_plugin": ("thirdparty", "load_pedalboard_plugin"),
    **{m: (m, None) for m in ("analysis", "demo", "io", "loudness_target", "presets", "thirdparty")},
}


def __getattr__(name):
    # Heavier parts import lazily so `import neuromaster` stays quick.
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'neuromaster' has no attribute {name!r}")
