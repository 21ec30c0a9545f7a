"""DISARM data, the MISP crosswalk, TLP 2.0 ids and pseudonyms: known answers."""

from __future__ import annotations

import json

import pytest

from civicsentry.errors import InvalidParams
from civicsentry.share import disarm, pseudonym, tlp
from tests.conftest import SHARED


def test_shipped_disarm_is_v1_6_with_every_technique() -> None:
    fw = disarm.framework()
    assert fw.version == "1.6"
    assert len(fw.techniques) == 391 and len(fw.tactics) == 16
    t = disarm.technique("T0049.003")
    assert (t.name, t.tactic_id, t.phase_name, t.parent_id) == (
        "Bots Amplify via Automated Forwarding and Reposting",
        "TA17",
        "maximise-exposure",
        "T0049",
    )
    # Names are not unique in v1.6: keyed by id, both survive.
    assert disarm.technique("T0111").name == disarm.technique("T0114.002").name
    with pytest.raises(InvalidParams, match=r"not a DISARM v1\.6 technique"):
        disarm.technique("T9999")
    assert (disarm.DATA / "NOTICE").read_text().count("CC BY-SA 4.0") >= 2


def test_shipped_file_is_what_the_source_derives_to() -> None:
    source = SHARED / "disarm" / "DISARM.json"
    if not source.exists():
        pytest.skip(f"DISARM.json not found at {source} (a clone without ../shared)")
    shipped = json.loads(disarm.FRAMEWORK_FILE.read_text(encoding="utf-8"))
    assert shipped == disarm.build_framework(source)


def test_misp_crosswalk_is_by_id() -> None:
    cw = disarm.crosswalk()
    # MISP's galaxy is DISARM v1.4: 298 techniques, 42 of them gone in v1.6, 135 v1.6
    # techniques missing, and one renamed.
    assert (cw["galaxy_techniques"], len(cw["only_in_galaxy"]), len(cw["missing_in_galaxy"])) == (
        298,
        42,
        135,
    )
    assert cw["renamed"] == {"T0097": {"v1.6": "Present Persona", "galaxy": "Create Personas"}}
    assert disarm.misp_tag("T0049") == 'misp-galaxy:disarm-techniques="Flood Information Space"'
    assert disarm.misp_tag("T0097") == 'misp-galaxy:disarm-techniques="Create Personas"'
    assert disarm.misp_tag("T0150.008") == 'disarm:technique="T0150.008"'
    # Cluster uuids are uuid5 of the id, as in misp-galaxy (checked value).
    assert disarm.misp_cluster("T0049") == (
        "Flood Information Space",
        "ee7bc41a-9eb0-5732-924a-3885e1c3bee9",
    )


def test_every_suggestion_names_known_techniques() -> None:
    for detection, s in disarm.SUGGESTIONS.items():
        assert disarm.check_ids(list(s.techniques)) == list(s.techniques), detection


def test_tlp_levels_ids_and_interop() -> None:
    assert tlp.MARKING_IDS["amber"] == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    assert tlp.level("TLP:AMBER+STRICT") == "amber+strict" and tlp.level("white") == "clear"
    with pytest.raises(InvalidParams, match="never leaves"):
        tlp.exportable("red")
    # TLP 1.0 (stix2's constants, OpenCTI) and OpenCTI's AMBER+STRICT are recognised.
    assert (
        tlp.level_of_refs(["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]) == "amber"
    )
    assert (
        tlp.level_of_refs(["marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"])
        == "amber+strict"
    )
    # The most restrictive wins; an unknown marking resolves by its name.
    custom = {"id": "marking-definition--1", "name": "TLP:RED", "definition_type": "statement"}
    assert (
        tlp.level_of_refs(
            [tlp.MARKING_IDS["green"], "marking-definition--1"], {"marking-definition--1": custom}
        )
        == "red"
    )
    assert tlp.allows("amber", "green") and not tlp.allows("green", "amber")
    assert not tlp.allows("amber+strict", "red")


def test_pseudonyms_need_the_key() -> None:
    k1, k2 = bytes(range(32)), bytes(range(1, 33))
    a = pseudonym.account(k1, "x:12345")
    assert a == pseudonym.account(k1, "x:12345") and len(a) == 64
    assert a != pseudonym.account(k2, "x:12345")
    assert a != pseudonym.account(k1, "x:12346")
    # An account id and a handle with the same text never collide.
    assert pseudonym.handle(k1, "x", "12345") != pseudonym.account(k1, "x:12345")
    assert pseudonym.handle(k1, "x", "@Alice") == pseudonym.handle(k1, "x", "alice")
    text = pseudonym.redact_mentions("thanks @Alice and @StateTV", k1, "x", keep={"statetv"})
    assert "@Alice" not in text and "@StateTV" in text and "@acct-" in text
