"""Presets (issue 5 item 2): the shipped chain, genre and target files; validation that names
the file and the place; exact round trips; ``neuromaster presets list / show``."""
from __future__ import annotations

import json

import pytest

import neuromaster as nm
from neuromaster import preset_store
from neuromaster.cli import main
from neuromaster.mastering import STAGES
from neuromaster.presets import (LIMITS, list_presets, load_preset, load_target, preset_from_dict, presets_dir,
                                 read_json)

GENRES = ("hiphop", "trap", "edm", "pop", "rock", "metal", "jazz", "classical", "lofi", "acoustic")
#: The issue's table: name -> (integrated LUFS, true peak dBTP).
TARGETS = {"spotify": (-14, -1), "spotify_loud": (-11, -2), "apple_music": (-16, -1), "youtube": (-14, -1),
           "amazon": (-14, -2), "tidal": (-14, -1), "deezer": (-15, -1), "ebu_r128": (-23, -1),
           "atsc_a85": (-24, -2), "club": (-8, -0.3)}


def test_the_shipped_files_are_all_there():
    names = list_presets()
    assert sorted(names["genres"]) == sorted(GENRES)
    assert sorted(names["targets"]) == sorted(TARGETS)
    assert "default" in names["chains"]
    assert presets_dir().name == "presets"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_targets_match_the_issue_table_and_cite_a_source(name):
    t = load_target(name)
    assert (t.integrated_lufs, t.true_peak_dbtp) == TARGETS[name]
    assert t.tolerance_lu == 0.2
    assert len(t.source) > 20


def _covered(place: str, notes: dict) -> bool:
    parts = place.split(".")
    return any(".".join(parts[:k]) in notes for k in range(1, len(parts) + 1))


@pytest.mark.parametrize("name", ["chains/default"] + [f"genres/{g}" for g in GENRES])
def test_every_figure_has_a_source_or_rationale(name):
    p = load_preset(name)
    raw, _ = read_json(presets_dir() / f"{name}.json")
    places = [f"stages.{s}.{k}" for s, params in raw.get("stages", {}).items() for k in params]
    places += [f"limits.{k}" for k in raw.get("limits", {})]
    places += ["target"] if "target" in raw else []
    missing = [pl for pl in places if not _covered(pl, p.notes)]
    assert not missing, f"{name}: figures without a note: {missing}"
    if p.kind == "genre":
        assert p.resolved_target() is not None and p.limits.to_dict(), f"{name}: a genre needs a target and limits"
        design = [v for v in p.notes.values() if "design choice" in v]
        assert design, "genre figures are engineering choices and should say so"


@pytest.mark.parametrize("name", ["default"] + list(GENRES))
def test_shipped_presets_round_trip_exactly(name, tmp_path):
    chain = nm.MasteringChain.from_preset(name)
    preset = chain.to_preset(name)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(preset))
    clone = nm.MasteringChain.from_preset(str(path))
    assert clone.to_preset(name) == preset
    assert clone.to_dict() == chain.to_dict()
    # and the preset object itself serialises to something that loads back the same
    p = load_preset(name)
    again = preset_from_dict(json.loads(json.dumps(p.to_dict())), "again")
    assert again.build_chain().to_dict() == p.build_chain().to_dict()
    assert again.limits == p.limits


def test_genre_settings_are_applied_over_the_defaults():
    chain = nm.MasteringChain.from_preset("lofi")
    assert chain.is_engaged("tape") and chain.get_parameter("tape.speed_ips") == "7.5"
    assert chain.get_parameter("tape.hiss") is True
    assert not chain.is_engaged("transformer")   # not in the file: the chain default (bypassed)
    assert chain.get_parameter("dither.bit_depth") == 24


# ------------------------------------------------------- bad presets
@pytest.fixture
def fake_presets(tmp_path, monkeypatch):
    """A presets folder of our own (never the shared one), with the real targets."""
    for folder in ("chains", "genres", "targets"):
        (tmp_path / folder).mkdir()
    for t in TARGETS:
        (tmp_path / "targets" / f"{t}.json").write_text((presets_dir() / "targets" / f"{t}.json").read_text())
    monkeypatch.setattr(preset_store, "presets_dir", lambda: tmp_path)
    return tmp_path


def _jazz(**over):
    d = {"kind": "genre", "name": "jazz", "target": "apple_music",
         "stages": {"limiter": {"bypass": False, "release_ms": 300.0}},
         "limits": {"max_limiter_gain_reduction_db": 3.0}}
    d.update(over)
    return d


@pytest.mark.parametrize("change,message", [
    (dict(stages={"limiter": {"ceiling_db": 3}}),
     r"genres/jazz\.json: stages\.limiter\.ceiling_db: must be \[-20, 0\] dB; got 3"),
    (dict(stages={"limitr": {"ceiling_db": -1}}),
     r"genres/jazz\.json: stages\.limitr: unknown stage; stages: dc_blocker, mid_side"),
    (dict(stages={"limiter": {"ceiling": -1}}),
     r"genres/jazz\.json: stages\.limiter\.ceiling: unknown parameter; limiter has: bypass, ceiling_db"),
    (dict(stages={"limiter": {"oversampling": 5}}),
     r"genres/jazz\.json: stages\.limiter\.oversampling: .*one of 4, 8, 16; got 5"),
    (dict(stages={"tape": {"speed_ips": "9"}}),
     r"genres/jazz\.json: stages\.tape\.speed_ips: must be one of '7\.5', '15', '30'; got '9'"),
    (dict(stages={"eq": {"band1_enabled": "yes"}}),
     r"genres/jazz\.json: stages\.eq\.band1_enabled: must be True or False; got 'yes'"),
    (dict(stages={"limiter": [1, 2]}), r"genres/jazz\.json: stages\.limiter: must be an object"),
    (dict(limits={"max_limiter_gain_reduction_db": -1}),
     r"genres/jazz\.json: limits\.max_limiter_gain_reduction_db: must be \[0, 30\] dB; got -1"),
    (dict(limits={"max_gr": 3}), r"genres/jazz\.json: limits\.max_gr: unknown limit"),
    (dict(target="spotifyy"), r"genres/jazz\.json: target: unknown target 'spotifyy'"),
    (dict(target={"integrated_lufs": -14, "true_peak_dbtp": 2}),
     r"genres/jazz\.json: target\.true_peak_dbtp: must be \[-20, 0\] dBTP; got 2"),
    (dict(kind="chain"), r"genres/jazz\.json: kind: a file in genres/ must have kind 'genre'"),
    (dict(colour="warm"), r"genres/jazz\.json: colour: unknown key"),
])
def test_bad_presets_name_the_file_and_the_place(fake_presets, change, message):
    (fake_presets / "genres" / "jazz.json").write_text(json.dumps(_jazz(**change)))
    with pytest.raises(nm.PresetError, match=message):
        load_preset("jazz")
    with pytest.raises(nm.PresetError, match=message):
        nm.MasteringChain.from_preset("jazz")


def test_malformed_json_names_the_file_and_the_line(fake_presets):
    (fake_presets / "genres" / "jazz.json").write_text('{\n  "kind": "genre",\n  "stages": {"limiter": {,}}\n}\n')
    with pytest.raises(nm.PresetError, match=r"genres/jazz\.json: malformed JSON at line 3 column"):
        load_preset("jazz")
    (fake_presets / "genres" / "jazz.json").write_text('{"stages": {"gain": {"gain_db": NaN}}}')
    with pytest.raises(nm.PresetError, match=r"genres/jazz\.json: malformed JSON: NaN is not valid JSON"):
        load_preset("jazz")
    (fake_presets / "genres" / "jazz.json").write_text('[1, 2]')
    with pytest.raises(nm.PresetError, match=r"genres/jazz\.json: the top level must be a JSON object"):
        load_preset("jazz")


def test_bad_target_files_and_unknown_names(fake_presets, tmp_path):
    (fake_presets / "targets" / "spotify.json").write_text(json.dumps({"integrated_lufs": -14}))
    with pytest.raises(nm.PresetError, match=r"targets/spotify\.json: true_peak_dbtp: missing"):
        load_target("spotify")
    with pytest.raises(nm.PresetError, match="unknown target 'nowhere'; known: amazon"):
        load_target("nowhere")
    with pytest.raises(nm.PresetError, match="unknown preset 'nowhere'"):
        load_preset("nowhere")
    user = tmp_path / "mine.json"
    user.write_text(json.dumps({"stages": {"gain": {"gain_db": 99}}}))
    with pytest.raises(nm.PresetError, match=r"mine\.json: stages\.gain\.gain_db: must be \[-96, 48\] dB; got 99"):
        load_preset(str(user))


def test_limits_table_has_units_and_docs():
    for name, (lo, hi, unit, doc) in LIMITS.items():
        assert lo < hi and unit == "dB" and len(doc) > 20 and name.startswith("max_")


# ------------------------------------------------------------------ CLI
def test_cli_presets_list(capsys):
    assert main(["presets", "list"]) == 0
    out = capsys.readouterr().out
    for name in GENRES + tuple(TARGETS) + ("default",):
        assert name in out
    assert main(["presets", "list", "--json"]) == 0
    cat = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in cat["targets"]} == set(TARGETS)
    assert {g["name"] for g in cat["genres"]} == set(GENRES)


def test_cli_presets_show(capsys):
    assert main(["presets", "show", "jazz", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    raw, _ = read_json(presets_dir() / "genres" / "jazz.json")
    assert obj == {"file": "genres/jazz.json", **raw}
    assert main(["presets", "show", "club"]) == 0
    assert "-8" in capsys.readouterr().out
    assert main(["presets", "show", "default"]) == 0
    assert "limiter" in capsys.readouterr().out


def test_cli_presets_show_errors(capsys, fake_presets):
    assert main(["presets", "show", "nowhere"]) == 2
    assert "unknown preset 'nowhere'" in capsys.readouterr().err
    (fake_presets / "genres" / "jazz.json").write_text(json.dumps(_jazz(stages={"limiter": {"ceiling_db": 3}})))
    assert main(["presets", "show", "jazz"]) == 2
    assert "genres/jazz.json: stages.limiter.ceiling_db: must be [-20, 0] dB; got 3" in capsys.readouterr().err


def test_every_stage_can_be_named_in_a_preset():
    stages = {name: {"bypass": False} for name, _ in STAGES}
    p = preset_from_dict({"stages": stages}, "all")
    assert p.build_chain().engaged_stages == [name for name, _ in STAGES]
