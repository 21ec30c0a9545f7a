"""The verbs of CivicSentry. The CLI, the web app and the Python API call these and
nothing below them."""
