"""Fact-checks: ``importers`` (ClaimReview JSON-LD and HTML, Fact Check Tools API
responses, ClaimReview data feeds → records), ``lexical`` (BM25, coverage, character
n-grams) and ``match`` (hybrid retrieval, the fusion model in ``model.json``, calibrated
decisions, matched spans). The service layer (``civicsentry.service.claims``) reads and
writes the workspace.
"""
