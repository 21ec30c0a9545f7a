"""Pulling a partner's TAXII 2.1 collection with the OASIS client (taxii2-client).

Incremental: each pull asks for what was added after the cursor the previous pull kept
(the server's ``X-TAXII-Date-Added-Last``), follows ``more``/``next`` with the same
filters, and returns the new cursor. The token goes as ``Authorization: Bearer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from taxii2client.v21 import Collection, as_pages

from ..errors import PullFailed

PAGE = 500


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@dataclass
class Pulled:
    objects: list[dict[str, Any]] = field(default_factory=list)
    added_last: str | None = None
    pages: int = 0


def pull(url: str, token: str | None, added_after: str | None, *, per_request: int = PAGE,
         verify: bool | str = True) -> Pulled:  # fmt: skip
    """Everything added to the collection at ``url`` after ``added_after``."""
    out = Pulled()
    auth = BearerAuth(token) if token else None
    try:
        coll = Collection(url, auth=auth, verify=verify)

        def remember(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
            last = resp.headers.get("X-TAXII-Date-Added-Last")
            if last and (out.added_last is None or last > out.added_last):
                out.added_last = last

        coll._conn.session.hooks["response"].append(remember)
        filters = {"added_after": added_after} if added_after else {}
        for page in as_pages(coll.get_objects, per_request=per_request, **filters):
            out.pages += 1
            out.objects += page.get("objects", [])
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise PullFailed(f"{url} answered {status}: {e}") from None
    except (requests.RequestException, ValueError) as e:
        raise PullFailed(f"Cannot pull {url}: {e}") from None
    except Exception as e:  # taxii2client's own exceptions (AccessError, TAXIIServiceException)
        raise PullFailed(f"Cannot pull {url}: {type(e).__name__}: {e}") from None
    return out
