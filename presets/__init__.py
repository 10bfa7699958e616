"""Package data: chain presets, platform targets and genre profiles (JSON).

The loaders live in :mod:`neuromaster.preset_store` and are re-exported here,
so ``from neuromaster.presets import load_preset, load_target`` works::

    chains/NAME.json    chain presets (chains/default.json: the default of `neuromaster master`)
    genres/NAME.json    genre profiles: stage settings, damage limits, default target
    targets/NAME.json   delivery targets: integrated LUFS, true-peak ceiling, tolerance, source
"""
from neuromaster.preset_store import (LIMITS, Limits, Preset, Target, custom_target, list_presets,  # noqa: F401
                                      load_preset, load_target, preset_from_dict, presets_dir, read_json, show,
                                      target_from_dict)
