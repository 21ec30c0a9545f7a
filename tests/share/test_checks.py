"""Our checks catch what stix2-validator lets through: hand-built bundles, each with one
defect and the error it must produce."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from civicsentry.share import checks, tlp

AMBER = tlp.MARKING_IDS["amber"]
PRODUCER = "identity--4f0f5a1c-2b8e-4d43-9a6f-1f3c5d7e9a01"
TS = "2025-03-03T09:00:00.000Z"


def good() -> dict[str, Any]:
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            tlp.marking_definition("amber"),
            {"type": "identity", "spec_version": "2.1", "id": PRODUCER, "created": TS,
             "modified": TS, "name": "Unit", "identity_class": "organization",
             "object_marking_refs": [AMBER]},
            {"type": "attack-pattern", "spec_version": "2.1",
             "id": "attack-pattern--0c765d19-99b2-4703-af48-e20a677c4bfc", "created": TS,
             "modified": TS, "created_by_ref": PRODUCER, "name": "Flood Information Space",
             "external_references": [{"source_name": "mitre-attack", "external_id": "T0049"}],
             "object_marking_refs": [AMBER]},
            {"type": "url", "spec_version": "2.1",
             "id": "url--4354f1b5-0744-55d6-aca9-c4593e6909f6",
             "value": "https://news-example.invalid/ballots-burned",
             "object_marking_refs": [AMBER]},
        ],
    }  # fmt: skip


def test_a_correct_bundle_passes_everything() -> None:
    report = checks.check_bundle(
        good(), forbidden={"x:1234567890", "1234567890", "ballot_truth_22"}
    )
    assert report.errors == []


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ("tlp_name_wrong_id", "non-official id"),
        ("no_marking", "needs exactly one official TLP 2.0 marking"),
        ("red", "TLP:RED must never be exported"),
        ("dangling", "dangling reference"),
        ("unknown_technique", "T0999 is not a DISARM v1.6 technique"),
        (
            "sco_id",
            "url--4354f1b5-0744-55d6-aca9-c4593e6909f6: observable id should be url--07d23064",
        ),
        ("raw_handle", "raw identifier of an ordinary account in the bundle: 'ballot_truth_22'"),
        ("raw_id", "raw identifier of an ordinary account in the bundle: '1234567890'"),
        ("bad_pattern", "stix2-validator"),
    ],
)
def test_each_defect_is_caught(defect: str, message: str) -> None:
    b = good()
    objs = b["objects"]
    if defect == "tlp_name_wrong_id":  # the validator accepts this one
        fake = copy.deepcopy(objs[0]) | {
            "id": "marking-definition--11111111-2222-4333-8444-555555555555"
        }
        objs.append(fake)
        objs[1]["object_marking_refs"] = [fake["id"]]
    elif defect == "no_marking":
        del objs[3]["object_marking_refs"]
    elif defect == "red":
        objs.append(tlp.marking_definition("red"))
        objs[3]["object_marking_refs"] = [tlp.MARKING_IDS["red"]]
    elif defect == "dangling":
        objs[2]["created_by_ref"] = "identity--00000000-0000-4000-8000-000000000000"
    elif defect == "unknown_technique":
        objs[2]["external_references"][0]["external_id"] = "T0999"
    elif defect == "sco_id":
        objs[3]["value"] = "https://news-example.invalid/other"
    elif defect == "raw_handle":
        objs[1]["description"] = "run by @Ballot_Truth_22"
    elif defect == "raw_id":
        objs[1]["description"] = "account 1234567890 posted"
    elif defect == "bad_pattern":
        objs.append({"type": "indicator", "spec_version": "2.1",
                     "id": "indicator--8d116ece-1738-47d9-bd9c-172411e20b8f", "created": TS,
                     "modified": TS, "pattern": "[url:value = 'unclosed]", "pattern_type": "stix",
                     "valid_from": TS, "object_marking_refs": [AMBER]})  # fmt: skip
    report = checks.check_bundle(b, forbidden={"x:1234567890", "1234567890", "ballot_truth_22"})
    assert any(message in e for e in report.errors), report.errors


def test_validator_alone_misses_what_we_catch() -> None:
    b = good()
    b["objects"][2]["external_references"][0]["external_id"] = "T0999"
    b["objects"][2]["created_by_ref"] = "identity--00000000-0000-4000-8000-000000000000"
    errors, _ = checks.validate(b)
    assert errors == []  # hence our own checks
    assert len(checks.check_bundle(b).errors) == 2
