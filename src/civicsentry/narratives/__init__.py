"""Narratives: posts that say the same thing, across languages and rewordings.

``embed`` (offline multilingual sentence embeddings with a workspace cache),
``cluster`` (nearest-neighbour graph + Leiden over near-duplicate groups),
``label`` (c-TF-IDF terms) and ``timeline`` (timelines, growth). The service layer
(``civicsentry.service.narratives``) reads and writes the workspace.
"""
