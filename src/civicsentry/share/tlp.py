"""TLP 2.0: levels, their order, the official OASIS marking-definition objects, and
recognition of the ids other tools use (TLP 1.0 and OpenCTI's).

stix2 ships only TLP 1.0 constants, and stix2-validator does not check TLP at all, so the
table below is the authority (ids from oasis-open/cti-stix-common-objects, TLP 2.0
extension). TLP:RED never leaves the workspace: exports and the TAXII server refuse it.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidParams

#: From least to most restricted.
LEVELS = ("clear", "green", "amber", "amber+strict", "red")
EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
CREATED = "2022-10-01T00:00:00.000Z"
#: Official OASIS TLP 2.0 marking-definition ids.
MARKING_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
#: Ids accepted on import: TLP 1.0 (stix2's constants; OpenCTI uses them too) and
#: OpenCTI's own AMBER+STRICT.
OTHER_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",  # TLP 1.0 WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": "amber+strict",  # OpenCTI
}
LEVEL_OF_ID = {v: k for k, v in MARKING_IDS.items()} | OTHER_IDS
_NAMES = {"white": "clear", "amber strict": "amber+strict", "amber-strict": "amber+strict"}


def level(value: str) -> str:
    """Normalise a user-given level ('AMBER', 'tlp:amber+strict', 'white') or raise."""
    v = value.strip().lower().removeprefix("tlp:").removeprefix("tlp ")
    v = _NAMES.get(v, v)
    if v not in LEVELS:
        raise InvalidParams(f"TLP level is one of {', '.join(LEVELS)}, not {value!r}.")
    return v


def exportable(value: str) -> str:
    """A level that may leave the workspace (not RED)."""
    lv = level(value)
    if lv == "red":
        raise InvalidParams("TLP:RED never leaves the workspace; choose clear, green or amber.")
    return lv


def rank(lv: str) -> int:
    return LEVELS.index(lv)


def allows(clearance: str, lv: str) -> bool:
    """Whether a recipient cleared up to ``clearance`` may receive ``lv`` (never RED)."""
    return lv != "red" and rank(lv) <= rank(clearance)


def marking_definition(lv: str) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object of a level."""
    lv = level(lv)
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": MARKING_IDS[lv],
        "created": CREATED,
        "name": f"TLP:{lv.upper()}",
        "extensions": {EXTENSION: {"extension_type": "property-extension", "tlp_2_0": lv}},
    }


def level_of_marking(obj: dict[str, Any]) -> str | None:
    """The TLP level a marking-definition object stands for (any of the known id sets,
    or by its TLP name/definition as pycti does), None if it is not a TLP marking."""
    known = LEVEL_OF_ID.get(str(obj.get("id")))
    if known:
        return known
    ext = (obj.get("extensions") or {}).get(EXTENSION) or {}
    if ext.get("tlp_2_0") in LEVELS:
        return str(ext["tlp_2_0"])
    if obj.get("definition_type") == "tlp":
        colour = str((obj.get("definition") or {}).get("tlp", ""))
        return _try(colour)
    name = str(obj.get("name") or obj.get("x_opencti_definition") or "")
    return _try(name) if name.upper().startswith("TLP") else None


def level_of_refs(refs: list[str], markings: dict[str, dict[str, Any]] | None = None) -> str | None:
    """The most restrictive TLP level among marking refs (ids alone, or resolved through
    the marking objects of the same bundle), None when none is a TLP marking."""
    found = []
    for ref in refs or []:
        lv = LEVEL_OF_ID.get(ref)
        if lv is None and markings and ref in markings:
            lv = level_of_marking(markings[ref])
        if lv:
            found.append(lv)
    return max(found, key=rank) if found else None


def misp_tag(lv: str) -> str:
    return f"tlp:{level(lv)}"


def _try(value: str) -> str | None:
    try:
        return level(value)
    except InvalidParams:
        return None
