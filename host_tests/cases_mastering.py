"""Registry case: MasteringChain with every stage engaged, each set up like its own stage case.

The chain case is derived from the other ``cases_*.py`` modules: for each
stage the first case whose factory builds that stage class gives the
stage's settings (its ``to_dict`` parameters), its ``changes``, ``context``
and ``exempt`` entries (prefixed with the stage name), so the generic suite
checks every flat parameter of the chain with the same care as the stage
itself. The oversampled stages run at 2x here (their cases switch to 1x),
which keeps the suite's renders short.

Dither is bypassed in this case: requantising to a grid turns any
sub-LSB difference upstream into a whole LSB, which would hide in the
"every parameter changes the output" test or fail the 1e-6 chunking test
for reasons that are not the chain's. Its parameters are checked with the
dither engaged (context), and ``test_mastering.py`` covers the dithered
chain's chunk invariance exactly (same grid, same noise).
"""
from __future__ import annotations

import importlib
import pathlib

from registry import Case

import neuromaster as nm
from neuromaster.mastering import STAGES

HERE = pathlib.Path(__file__).parent
OVERSAMPLED = ("transformer", "tube", "tape", "clipper", "parallel_drive")


def _stage_cases() -> dict:
    """Stage class name -> its first registry case (from the other case modules)."""
    found = {}
    for path in sorted(HERE.glob("cases_*.py")):
        if path.stem == "cases_mastering":
            continue
        for case in importlib.import_module(path.stem).CASES:
            name = type(case.factory()).__name__
            found.setdefault(name, case)
    return found


def _setup():
    cases = _stage_cases()
    params, changes, context, exempt = {}, {}, {}, {}
    for stage, cls in STAGES:
        params[f"{stage}.bypass"] = stage == "dither"
        case = cases.get(cls.__name__)
        if case is None:   # a stage without a case of its own: defaults (test_contract flags the missing case)
            continue
        for k, v in case.factory().to_dict()["parameters"].items():
            params[f"{stage}.{k}"] = v
        for k, v in case.changes.items():
            changes[f"{stage}.{k}"] = v
        for k, ctx in case.context.items():
            context[f"{stage}.{k}"] = {f"{stage}.{kk}": vv for kk, vv in ctx.items()}
        for k, reason in case.exempt.items():
            exempt[f"{stage}.{k}"] = f"as in the {case.name} case: {reason}"
    for stage in OVERSAMPLED:
        params[f"{stage}.oversampling"] = 2
    for p in nm.Dither.PARAMETERS:
        context[f"dither.{p.name}"] = {"dither.bypass": False}
    for k in list(exempt):
        if k.startswith("dynamic_eq.") and k.endswith("_detector"):
            exempt[k] = ("MasteringChain takes no sidechain, so it refuses 'external' when it is set and "
                         "'internal' is the only value it accepts (test_chain_constraints.py checks the "
                         "refusal; test_dynamic_eq.py covers the detector)")
    return params, changes, context, exempt


_PARAMS, _CHANGES, _CONTEXT, _EXEMPT = _setup()


def _chain():
    return nm.MasteringChain(_PARAMS)


CASES = [
    Case("MasteringChain[all stages]", _chain, changes=_CHANGES, context=_CONTEXT, exempt=_EXEMPT,
         linked=True, channels=(1, 2)),
]
