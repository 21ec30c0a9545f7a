"""Sharing across borders: STIX 2.1 bundles with DISARM techniques and TLP 2.0 markings,
pseudonymised accounts, a TAXII 2.1 server and client, MISP events, and correlation of
partners' feeds with local findings (docs/sharing.md).

The verbs are in ``civicsentry.service.share``; modules here are the parts they use.
"""
