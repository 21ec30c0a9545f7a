"""Files and Python objects for the tools analysts already use: the coordination network
as CSV, Parquet, GraphML and GEXF (Gephi), networkx and igraph graphs, and the cluster
membership as CSV (docs/clusters.md)."""

from .clusters import ClusterExport, write_clusters_csv
from .network import FORMATS, NetworkData, export_network, network_data, to_igraph, to_networkx

__all__ = [
    "FORMATS",
    "ClusterExport",
    "NetworkData",
    "export_network",
    "network_data",
    "to_igraph",
    "to_networkx",
    "write_clusters_csv",
]
