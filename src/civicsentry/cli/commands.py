"""Imports every command module so that its commands register on the app."""

from . import clusters, detect, ingest, simulate  # noqa: F401
from . import alerts  # noqa: F401
from . import privacy, web  # noqa: F401
from . import share  # noqa: F401
from . import accounts  # noqa: F401
from . import claims, narratives  # noqa: F401
