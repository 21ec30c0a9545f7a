"""End to end over TAXII 2.1: simulate → ingest → detect → export a cluster into a
collection → serve it with uvicorn on loopback → pull it with the OASIS taxii2-client as
a partner with a token. The second pull returns only what was added after; a partner
without rights gets 403; TLP:RED objects never appear. medallion, the OASIS reference
server, is the oracle: the same objects served by both come back the same."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

import civicsentry
from civicsentry.service import share
from civicsentry.share import taxii_client, tlp
from civicsentry.share.taxii_client import BearerAuth, PullFailed
from civicsentry.share.taxii_server import MEDIA_TYPE, create_taxii_app
from tests.share.conftest import serve, url_cluster, workspace_copy


@pytest.fixture(scope="module")
def node(detected_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = workspace_copy(detected_path, tmp_path_factory.mktemp("taxii") / "ws.duckdb")
    ws = civicsentry.open(path)
    share.create_community(ws, "eu")
    coll = share.add_collection(ws, "eu-partners", title="EU partners", community="eu")
    tokens = {
        pid: share.add_partner(ws, pid, community="eu", max_tlp=level, read=read, write=write)[
            "token"
        ]
        for pid, level, read, write in (
            ("ee-cert", "amber", ["eu-partners"], []),
            ("lt-green", "green", ["eu-partners"], []),
            ("writer", "amber", ["eu-partners"], ["eu-partners"]),
            ("no-rights", "amber", [], []),
        )
    }
    cid = url_cluster(ws)["cluster_id"]
    result = share.export_share(ws, cluster=cid, community="eu", collection="eu-partners")
    with serve(create_taxii_app(path)) as base:
        yield {"ws": ws, "base": base, "tokens": tokens, "collection": coll, "cluster": cid,
               "bundle": result.document, "url": f"{base}/taxii2/api/collections/{coll['collection_id']}/"}  # fmt: skip
    ws.close()


def collection(node: dict[str, Any], partner: str) -> Collection:
    return Collection(node["url"], auth=BearerAuth(node["tokens"][partner]))


def test_partner_pulls_everything_then_only_what_was_added(node: dict[str, Any]) -> None:
    server = Server(f"{node['base']}/taxii2/", auth=BearerAuth(node["tokens"]["ee-cert"]))
    root = server.api_roots[0]
    assert root.versions == [MEDIA_TYPE]
    (coll,) = root.collections
    assert (coll.title, coll.can_read, coll.can_write) == ("EU partners", True, False)
    got = [
        o for page in as_pages(coll.get_objects, per_request=10) for o in page.get("objects", [])
    ]
    sent = node["bundle"]["objects"]
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in sent)
    assert len(got) > 10  # it really paged
    first = taxii_client.pull(node["url"], node["tokens"]["ee-cert"], None, per_request=25)
    assert len(first.objects) == len(sent) and first.added_last
    assert taxii_client.pull(node["url"], node["tokens"]["ee-cert"], first.added_last).objects == []
    # The analyst remaps a detection and re-exports: only the new versions come next.
    ws = node["ws"]
    share.set_disarm_mapping(ws, "co-url", ["T0049.007"])
    try:
        again = share.export_share(
            ws, cluster=node["cluster"], community="eu", collection="eu-partners"
        )
    finally:
        share.reset_disarm_mapping(ws, "co-url")
    old = {(o["id"], o.get("modified")) for o in sent}
    changed = {(o["id"], o.get("modified")) for o in again.document["objects"]} - old
    second = taxii_client.pull(node["url"], node["tokens"]["ee-cert"], first.added_last)
    assert changed and {(o["id"], o.get("modified")) for o in second.objects} == changed
    assert again.published == len(changed)
    # Every pull is in the share log and the audit log, as the partner.
    pulls = share.share_log(ws, partner="ee-cert", limit=0)
    assert sum(p["objects"] for p in pulls if p["channel"] == "taxii-pull") >= len(sent) * 2 + len(
        changed
    )
    assert (
        ws.scalar(
            "SELECT count(*) FROM audit_log WHERE actor = 'partner:ee-cert' AND action = 'taxii.pull'"
        )
        >= 3
    )


def test_a_partner_without_rights_gets_403_and_a_bad_token_401(node: dict[str, Any]) -> None:
    with pytest.raises(requests.HTTPError) as e:
        collection(node, "no-rights").get_objects()
    assert e.value.response.status_code == 403
    assert e.value.response.headers["Content-Type"] == MEDIA_TYPE
    root = ApiRoot(f"{node['base']}/taxii2/api/", auth=BearerAuth(node["tokens"]["no-rights"]))
    assert root.collections == []
    with pytest.raises(requests.HTTPError) as e:
        Collection(node["url"], auth=BearerAuth("cst_wrong")).get_objects()
    assert e.value.response.status_code == 401
    with pytest.raises(PullFailed, match="403"):
        taxii_client.pull(node["url"], node["tokens"]["no-rights"], None)
    # HTTP Basic works too (partner id + token); a wrong user name does not.
    r = httpx.get(
        node["url"], auth=("ee-cert", node["tokens"]["ee-cert"]), headers={"Accept": MEDIA_TYPE}
    )
    assert r.status_code == 200 and r.json()["can_read"] is True
    r = httpx.get(
        node["url"], auth=("writer", node["tokens"]["ee-cert"]), headers={"Accept": MEDIA_TYPE}
    )
    assert r.status_code == 401


def test_tlp_red_never_appears_and_clearance_is_respected(node: dict[str, Any]) -> None:
    ts = "2025-03-03T09:00:00.000Z"
    red = {
        "type": "campaign",
        "spec_version": "2.1",
        "id": "campaign--5a0e84e5-0a0b-4b6e-9b8e-0f1f5c1b9b01",
        "created": ts,
        "modified": ts,
        "name": "Red secret",
        "object_marking_refs": [tlp.MARKING_IDS["red"]],
    }
    amber = red | {"id": "campaign--5a0e84e5-0a0b-4b6e-9b8e-0f1f5c1b9b02", "name": "Shared lead",
                   "object_marking_refs": [tlp.MARKING_IDS["amber"]]}  # fmt: skip
    envelope = {
        "objects": [tlp.marking_definition("red"), tlp.marking_definition("amber"), red, amber]
    }
    status = collection(node, "writer").add_objects(envelope)
    assert status.status == "complete" and status.failure_count == 2
    assert {f["id"] for f in status.failures} == {red["id"], tlp.MARKING_IDS["red"]}
    assert all("TLP:RED" in f["message"] for f in status.failures)
    # The status resource stays retrievable.
    root = ApiRoot(f"{node['base']}/taxii2/api/", auth=BearerAuth(node["tokens"]["writer"]))
    assert root.get_status(status.id).success_count == 2
    everything = taxii_client.pull(node["url"], node["tokens"]["ee-cert"], None).objects
    ids = {o["id"] for o in everything}
    assert amber["id"] in ids and red["id"] not in ids
    assert tlp.MARKING_IDS["red"] not in json.dumps(everything)
    assert node["ws"].scalar("SELECT count(*) FROM collection_objects WHERE tlp = 'red'") == 0
    # A partner cleared for TLP:GREEN receives nothing marked AMBER.
    green = taxii_client.pull(node["url"], node["tokens"]["lt-green"], None).objects
    assert green and all(
        tlp.level_of_refs(o.get("object_marking_refs", [])) in (None, "clear", "green")
        for o in green
    )
    # An object a reader may not write: 403.
    with pytest.raises(requests.HTTPError) as e:
        Collection(node["url"], auth=BearerAuth(node["tokens"]["ee-cert"]))._conn.post(
            node["url"] + "objects/", headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE},
            json={"objects": [amber]},
        )  # fmt: skip
    assert e.value.response.status_code == 403


def test_filters_media_types_and_errors(node: dict[str, Any]) -> None:
    coll = collection(node, "ee-cert")
    inds = coll.get_objects(type="indicator", limit=1000)["objects"]
    assert inds and {o["type"] for o in inds} == {"indicator"}
    one = coll.get_object(inds[0]["id"])["objects"]
    assert [o["id"] for o in one] == [inds[0]["id"]]
    assert coll.object_versions(inds[0]["id"])["versions"] == [inds[0]["modified"]]
    manifest = coll.get_manifest(type="campaign")["objects"]
    assert manifest and all(
        m["media_type"] == "application/stix+json;version=2.1" for m in manifest
    )
    auth = {"Authorization": f"Bearer {node['tokens']['ee-cert']}"}
    r = httpx.get(node["url"] + "objects/", headers=auth | {"Accept": "application/json"})
    assert r.status_code == 406 and r.headers["content-type"] == MEDIA_TYPE
    r = httpx.post(node["url"] + "objects/", headers={"Authorization": f"Bearer {node['tokens']['writer']}",
                   "Content-Type": "application/json", "Accept": MEDIA_TYPE}, content=b'{"objects": []}')  # fmt: skip
    assert r.status_code == 415
    r = httpx.get(node["url"] + "objects/?match[bogus]=1", headers=auth | {"Accept": MEDIA_TYPE})
    assert r.status_code == 400 and r.json()["title"] == "Bad Request"
    r = httpx.get(f"{node['base']}/taxii2/api/collections/00000000-0000-4000-8000-000000000000/",
                  headers=auth | {"Accept": MEDIA_TYPE})  # fmt: skip
    assert r.status_code == 404
    assert (
        "X-TAXII-Date-Added-Last"
        in httpx.get(node["url"] + "objects/", headers=auth | {"Accept": MEDIA_TYPE}).headers
    )


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """medallion 3.0.0 (memory backend) with one writable collection, on loopback."""
    from medallion import application_instance, register_blueprints, set_config
    from werkzeug.serving import make_server

    data = {
        "/discovery": {"title": "oracle", "default": "", "api_roots": []},
        "oracle": {
            "information": {"title": "oracle", "versions": [MEDIA_TYPE], "max_content_length": 10485760},
            "status": [],
            "collections": [
                {"id": "3b9a0f52-6a0e-4c63-9d33-8a5f2c7d1e01", "title": "oracle", "can_read": True,
                 "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                 "objects": [], "manifest": []}
            ],
        },
    }  # fmt: skip
    path = tmp_path_factory.mktemp("medallion") / "data.json"
    path.write_text(json.dumps(data))
    config = {
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend", "filename": str(path)},
        "users": {"oracle": "s3cret"},
        "taxii": {"max_page_size": 1000},
    }  # fmt: skip
    for prop in ("users", "taxii", "backend"):
        set_config(application_instance, prop, config)
    if "mgmt" not in application_instance.blueprints:
        register_blueprints(application_instance)
    server = make_server("127.0.0.1", 0, application_instance, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/oracle/collections/3b9a0f52-6a0e-4c63-9d33-8a5f2c7d1e01/"
    server.shutdown()
    thread.join(10)


def test_same_objects_as_the_reference_server(node: dict[str, Any], medallion: str) -> None:
    ours = collection(node, "ee-cert")
    theirs = Collection(medallion, user="oracle", password="s3cret")
    # medallion 3.0.0 reads an extension-definition's own "version" property ("1.0.0") as
    # the TAXII version and fails; compare everything else.
    served = taxii_client.pull(node["url"], node["tokens"]["ee-cert"], None).objects
    sent = [o for o in served if o["type"] != "extension-definition"]
    theirs.add_objects({"objects": sent})
    ids = [o["id"] for o in sent]

    def objects(c: Collection) -> list[dict[str, Any]]:
        return sorted(c.get_objects(id=ids, limit=1000).get("objects", []), key=lambda o: o["id"])

    assert objects(ours) == objects(theirs) == sorted(sent, key=lambda o: o["id"])
    sdo = next(o for o in node["bundle"]["objects"] if o["type"] == "intrusion-set")
    for fetch in (
        lambda c: c.get_object(sdo["id"])["objects"],
        lambda c: c.object_versions(sdo["id"])["versions"],
    ):
        assert fetch(ours) == fetch(theirs)
    mine = {(m["id"], m["version"]) for m in ours.get_manifest(type="campaign")["objects"]}
    ref = {(m["id"], m["version"]) for m in theirs.get_manifest(type="campaign")["objects"]}
    assert mine == ref
    assert ours.get_objects(type="attack-pattern")["objects"] == [] or sorted(
        o["id"] for o in ours.get_objects(type="attack-pattern", id=ids)["objects"]
    ) == sorted(o["id"] for o in theirs.get_objects(type="attack-pattern")["objects"])


def test_versions_first_last_all(node: dict[str, Any]) -> None:
    """A remapped re-export gives the method note a new version: match[version] picks."""
    ws = node["ws"]
    share.set_disarm_mapping(ws, "co-hashtag", ["T0049.005"])
    try:
        share.export_share(ws, cluster=node["cluster"], community="eu", collection="eu-partners")
    finally:
        share.reset_disarm_mapping(ws, "co-hashtag")
    coll = collection(node, "ee-cert")
    note = next(o for o in node["bundle"]["objects"] if o["type"] == "note")
    versions = coll.object_versions(note["id"])["versions"]
    assert len(versions) >= 2 and versions[0] == note["modified"] and versions == sorted(versions)
    first = coll.get_object(note["id"], version="first")["objects"]
    last = coll.get_object(note["id"])["objects"]
    both = coll.get_object(note["id"], version="all")["objects"]
    assert [o["modified"] for o in first] == [versions[0]]
    assert [o["modified"] for o in last] == [versions[-1]]
    assert sorted(o["modified"] for o in both) == versions
    # A timestamp matches however it is written (here: with microseconds).
    exact = coll.get_object(note["id"], version=versions[0].replace("Z", "000Z"))["objects"]
    assert [o["modified"] for o in exact] == [versions[0]]
