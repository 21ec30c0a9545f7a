"""GraphML and GEXF (1.2, what Gephi and networkx read) written as a stream with the
standard library's SAX ``XMLGenerator``: every attribute value and text node is escaped
by the writer, never by string concatenation, and characters XML 1.0 cannot carry
(control characters, lone surrogates) are replaced by U+FFFD, since handles and texts
are hostile input. Memory stays flat: rows are written as they come.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from io import TextIOBase
from pathlib import Path
from typing import Any
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

import pyarrow as pa

#: (attribute name, kind); kind is one of KINDS.
Schema = Sequence[tuple[str, str]]
Row = tuple[str, str, Mapping[str, Any]]  # (id or source, label or target, attributes)
KINDS = ("string", "long", "double", "boolean")
GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
GEXF_NS = "http://www.gexf.net/1.2draft"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def kind_of(t: pa.DataType) -> str:
    """The attribute kind of an Arrow column type (timestamps are written as ISO text)."""
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    return "string"


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _value(v: Any, kind: str) -> str | None:
    """The text of a value, or None to leave it out (missing, NaN)."""
    if v is None:
        return None
    if kind == "boolean":
        return "true" if v else "false"
    if kind == "double":
        f = float(v)
        return repr(f) if math.isfinite(f) else None
    if kind == "long":
        return str(int(v))
    if isinstance(v, datetime):
        return v.isoformat()
    return clean(str(v))


class _Writer:
    def __init__(self, f: TextIOBase) -> None:
        self.x = XMLGenerator(f, encoding="utf-8", short_empty_elements=True)
        self.depth = 0

    def open(self, tag: str, attrs: Mapping[str, str] | None = None) -> None:
        self.x.ignorableWhitespace("\n" + "  " * self.depth)
        self.x.startElement(tag, AttributesImpl(dict(attrs or {})))
        self.depth += 1

    def close(self, tag: str, *, inline: bool = False) -> None:
        self.depth -= 1
        if not inline:
            self.x.ignorableWhitespace("\n" + "  " * self.depth)
        self.x.endElement(tag)

    def leaf(self, tag: str, attrs: Mapping[str, str], text: str | None = None) -> None:
        self.open(tag, attrs)
        if text is not None:
            self.x.characters(text)
        self.close(tag, inline=True)


def write_graphml(
    path: str | Path,
    node_schema: Schema,
    nodes: Iterable[Row],
    edge_schema: Schema,
    edges: Iterable[Row],
    *,
    description: str = "",
) -> tuple[int, int]:
    """Write an undirected GraphML graph; returns (nodes, edges) written. A node's label
    is stored as its ``label`` attribute."""
    node_schema = [("label", "string"), *node_schema]
    n_nodes = n_edges = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        w = _Writer(f)
        w.x.startDocument()
        w.open(
            "graphml",
            {
                "xmlns": GRAPHML_NS,
                "xmlns:xsi": _XSI,
                "xsi:schemaLocation": f"{GRAPHML_NS} {GRAPHML_NS}/1.0/graphml.xsd",
            },
        )
        w.leaf(
            "key", {"id": "g0", "for": "graph", "attr.name": "description", "attr.type": "string"}
        )
        for prefix, target, schema in (("n", "node", node_schema), ("e", "edge", edge_schema)):
            for i, (name, kind) in enumerate(schema):
                w.leaf(
                    "key",
                    {"id": f"{prefix}{i}", "for": target, "attr.name": name, "attr.type": kind},
                )
        w.open("graph", {"id": "G", "edgedefault": "undirected"})
        w.leaf("data", {"key": "g0"}, clean(description))
        for node_id, label, attrs in nodes:
            w.open("node", {"id": clean(node_id)})
            for i, (name, kind) in enumerate(node_schema):
                v = _value(label if name == "label" else attrs.get(name), kind)
                if v is not None:
                    w.leaf("data", {"key": f"n{i}"}, v)
            w.close("node")
            n_nodes += 1
        for source, target, attrs in edges:
            w.open("edge", {"id": f"e{n_edges}", "source": clean(source), "target": clean(target)})
            for i, (name, kind) in enumerate(edge_schema):
                v = _value(attrs.get(name), kind)
                if v is not None:
                    w.leaf("data", {"key": f"e{i}"}, v)
            w.close("edge")
            n_edges += 1
        w.close("graph")
        w.close("graphml")
        w.x.endDocument()
        f.write("\n")
    return n_nodes, n_edges


def write_gexf(
    path: str | Path,
    node_schema: Schema,
    nodes: Iterable[Row],
    edge_schema: Schema,
    edges: Iterable[Row],
    *,
    description: str = "",
    creator: str = "CivicSentry",
) -> tuple[int, int]:
    """Write an undirected GEXF 1.2 graph; an edge attribute named ``weight`` becomes the
    GEXF edge weight Gephi sizes edges by. Returns (nodes, edges) written."""
    gexf_kind = {"string": "string", "long": "long", "double": "double", "boolean": "boolean"}
    # The weight is GEXF's own edge attribute; a second column of that name confuses Gephi.
    edge_schema = [(name, kind) for name, kind in edge_schema if name != "weight"]
    n_nodes = n_edges = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        w = _Writer(f)
        w.x.startDocument()
        w.open("gexf", {"xmlns": GEXF_NS, "version": "1.2"})
        w.open("meta")
        w.leaf("creator", {}, clean(creator))
        w.leaf("description", {}, clean(description))
        w.close("meta")
        w.open("graph", {"defaultedgetype": "undirected", "mode": "static"})
        for cls, schema in (("node", node_schema), ("edge", edge_schema)):
            w.open("attributes", {"class": cls, "mode": "static"})
            for i, (name, kind) in enumerate(schema):
                w.leaf("attribute", {"id": str(i), "title": name, "type": gexf_kind[kind]})
            w.close("attributes")
        w.open("nodes")
        for node_id, label, attrs in nodes:
            w.open("node", {"id": clean(node_id), "label": clean(label)})
            _attvalues(w, node_schema, attrs)
            w.close("node")
            n_nodes += 1
        w.close("nodes")
        w.open("edges")
        for source, target, attrs in edges:
            head = {"id": str(n_edges), "source": clean(source), "target": clean(target)}
            weight = _value(attrs.get("weight"), "double")
            if weight is not None:
                head["weight"] = weight
            w.open("edge", head)
            _attvalues(w, edge_schema, attrs)
            w.close("edge")
            n_edges += 1
        w.close("edges")
        w.close("graph")
        w.close("gexf")
        w.x.endDocument()
        f.write("\n")
    return n_nodes, n_edges


def _attvalues(w: _Writer, schema: Schema, attrs: Mapping[str, Any]) -> None:
    values = []
    for i, (name, kind) in enumerate(schema):
        v = _value(attrs.get(name), kind)
        if v is not None:
            values.append((i, v))
    if not values:
        return
    w.open("attvalues")
    for i, v in values:
        w.leaf("attvalue", {"for": str(i), "value": v})
    w.close("attvalues")
