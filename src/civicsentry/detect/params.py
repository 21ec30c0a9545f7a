"""The parameters of a coordination detection, their defaults per semantics, and their
validation (a wrong or meaningless parameter is an error, never silently ignored)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InvalidParams
from .media import MediaParams
from .simtext import SimtextParams
from .sweep import Cap, check_type_name
from .windows import AUTO, WindowValue, parse_duration, parse_windows

SEMANTICS = ("civicsentry", "coortweet", "cnt")

#: Each share meets at most this many following shares of its object inside the window
#: (civicsentry semantics; see sweep.py). Binds only on objects with more than this many
#: shares within one window, which are reported in the caps table.
DEFAULT_MAX_PARTNERS = 50
#: The same for viral objects (shared by ≥ ``viral_accounts`` accounts), whose pairs
#: carry least evidence and most cost: on 1M simulated posts objects with ≥ 1,000
#: accounts made 85% of all share pairs within a window.
DEFAULT_VIRAL_PARTNERS = 5
DEFAULT_VIRAL_ACCOUNTS = 1000

#: What each semantics runs on and how, when not told otherwise.
DEFAULTS: dict[str, dict[str, Any]] = {
    # Our default: the three modalities campaigns use most; two-minute windows (campaign
    # members often act minutes apart; the null models, not a tight window, keep chance
    # out); significance does the filtering (a single co-action is never significant).
    "civicsentry": {
        "object_types": ("repost", "url", "hashtag"),
        "window": 120.0,
        "min_participation": 1,
        "min_weight": 2,
    },
    # detect_groups(time_window = 10, min_participation = 2).
    "coortweet": {
        "object_types": ("repost",),
        "window": 10.0,
        "min_participation": 2,
        "min_weight": 1,
    },
    # compute co_retweet, Python API min_edge_weight = 1; 60 s as the toolkit README.
    "cnt": {"object_types": ("repost",), "window": 60.0, "min_participation": 1, "min_weight": 1},
}


@dataclass(frozen=True)
class CoordinationParams:
    """Everything that shapes a detection; ``resolve()`` fills the defaults of the
    chosen semantics and checks every value."""

    semantics: str = "civicsentry"
    object_types: Sequence[str] | None = None
    windows: str | Sequence[str] | Mapping[str, WindowValue] | None = None
    min_participation: int | None = None
    min_weight: int | None = None
    # civicsentry only (None = the default; giving one with a peer semantics is an
    # error, since the peers have no caps and no significance):
    max_partners: int | None = None  # 0 = no cap
    viral_partners: int | None = None
    viral_accounts: int | None = None
    alpha: float | None = None
    jitter: str | float | None = None
    n_null: int | None = None
    seed: int | None = None
    # automatic windows (CooRnet's q and p):
    auto_q: float = 0.1
    auto_p: float = 0.5
    # near-duplicate text (only with ``simtext`` among the types; see simtext.py):
    simtext_threshold: float | None = None
    simtext_num_perm: int | None = None
    simtext_bands: int | None = None
    simtext_shingle: int | None = None
    # perceptual-hash media (only with ``media`` among the types; see media.py):
    media_distance: int | None = None

    def resolve(self) -> ResolvedParams:
        sem = (self.semantics or "civicsentry").lower()
        if sem not in SEMANTICS:
            raise InvalidParams(
                f"Unknown semantics {self.semantics!r}; choose one of {', '.join(SEMANTICS)}."
            )
        d = DEFAULTS[sem]
        types = tuple(
            dict.fromkeys(
                t.strip().lower() for t in (self.object_types or d["object_types"]) if t.strip()
            )
        )
        if not types:
            raise InvalidParams("No object types to detect on; give at least one with --types.")
        for t in types:
            check_type_name(t)
        if "multi" in types:
            raise InvalidParams("'multi' names the combined network, not an object type.")
        mp = (
            d["min_participation"]
            if self.min_participation is None
            else int(self.min_participation)
        )
        mw = d["min_weight"] if self.min_weight is None else int(self.min_weight)
        if mp < 1 or mw < 1:
            raise InvalidParams("--min-participation and --min-weight must be at least 1.")
        if sem == "cnt" and mp != 1:
            raise InvalidParams(
                "The coordination-network-toolkit has no participation filter; "
                "use --min-weight (its min_edge_weight), or --semantics coortweet/civicsentry."
            )
        ours = {
            "max_partners": self.max_partners,
            "viral_partners": self.viral_partners,
            "viral_accounts": self.viral_accounts,
            "alpha": self.alpha,
            "jitter": self.jitter,
            "n_null": self.n_null,
            "seed": self.seed,
        }
        given = sorted(k for k, v in ours.items() if v is not None)
        if sem != "civicsentry" and given:
            raise InvalidParams(
                f"{', '.join(given)} only apply to --semantics civicsentry: {sem} has no caps "
                "and no significance (it reproduces the peer tool exactly)."
            )
        alpha = 0.05 if self.alpha is None else float(self.alpha)
        if not 0 < alpha <= 1:
            raise InvalidParams(f"--alpha must be in (0, 1], not {alpha}.")
        if not (0 < self.auto_q <= 1 and 0 < self.auto_p < 1):
            raise InvalidParams("auto window parameters need 0 < q ≤ 1 and 0 < p < 1.")
        cap = DEFAULT_MAX_PARTNERS if self.max_partners is None else int(self.max_partners)
        if cap < 0:
            raise InvalidParams("max_partners must be ≥ 1, or 0 for no cap.")
        n_null = 0 if self.n_null is None else int(self.n_null)
        if n_null < 0:
            raise InvalidParams("n_null must be ≥ 0 (0 = exact p-values).")
        viral = DEFAULT_VIRAL_ACCOUNTS if self.viral_accounts is None else int(self.viral_accounts)
        if viral < 2:
            raise InvalidParams("viral_accounts must be at least 2.")
        vcap = DEFAULT_VIRAL_PARTNERS if self.viral_partners is None else int(self.viral_partners)
        if vcap < 1:
            raise InvalidParams("viral_partners must be at least 1.")
        factor, fixed = _parse_jitter("10x" if self.jitter is None else self.jitter)
        windows = parse_windows(self.windows)
        st = {
            "threshold": self.simtext_threshold,
            "num_perm": self.simtext_num_perm,
            "bands": self.simtext_bands,
            "shingle": self.simtext_shingle,
        }
        simtext: dict[str, Any] | None = None
        if "simtext" in types:
            simtext = asdict(
                SimtextParams(**{k: v for k, v in st.items() if v is not None}).check()
            )
        elif any(v is not None for v in st.values()):
            raise InvalidParams("--simtext-* options need simtext among --types.")
        media: dict[str, Any] | None = None
        if "media" in types:
            given_media = {} if self.media_distance is None else {"distance": self.media_distance}
            media = asdict(MediaParams(**given_media).check())
        elif self.media_distance is not None:
            raise InvalidParams("--media-distance needs media among --types.")
        return ResolvedParams(
            semantics=sem,
            object_types=types,
            windows=windows,
            default_window=d["window"],
            min_participation=mp,
            min_weight=mw,
            max_partners=cap if sem == "civicsentry" and cap > 0 else None,
            viral_partners=min(vcap, cap) if cap > 0 else vcap,
            viral_accounts=viral,
            alpha=alpha,
            jitter_factor=factor,
            jitter_seconds=fixed,
            n_null=n_null,
            seed=0 if self.seed is None else int(self.seed),
            auto_q=float(self.auto_q),
            auto_p=float(self.auto_p),
            simtext=simtext,
            media=media,
        )


def _parse_jitter(j: str | float) -> tuple[float | None, float | None]:
    """``"10x"`` = 10 × each type's window; a duration (``"10m"``) = the same D for all."""
    if isinstance(j, str) and j.strip().lower().endswith("x"):
        try:
            f = float(j.strip()[:-1])
        except ValueError:
            raise InvalidParams(f"Cannot read the jitter {j!r}: write e.g. 10x or 10m.") from None
        if f <= 0:
            raise InvalidParams("The jitter factor must be positive.")
        return f, None
    s = parse_duration(j)
    if s <= 0:
        raise InvalidParams("The jitter must be a positive duration.")
    return None, s


@dataclass(frozen=True)
class ResolvedParams:
    semantics: str
    object_types: tuple[str, ...]
    windows: dict[str, WindowValue]
    default_window: float
    min_participation: int
    min_weight: int
    max_partners: int | None
    viral_partners: int
    viral_accounts: int
    alpha: float
    jitter_factor: float | None
    jitter_seconds: float | None
    n_null: int
    seed: int
    auto_q: float
    auto_p: float
    simtext: dict[str, Any] | None = None  # SimtextParams fields, when simtext is detected
    media: dict[str, Any] | None = None  # MediaParams fields, when media is detected

    @property
    def simtext_params(self) -> SimtextParams | None:
        return None if self.simtext is None else SimtextParams(**self.simtext)

    @property
    def media_params(self) -> MediaParams | None:
        return None if self.media is None else MediaParams(**self.media)

    @property
    def cap(self) -> Cap | None:
        if self.max_partners is None:
            return None
        return Cap(self.max_partners, self.viral_partners, self.viral_accounts)

    @property
    def significance(self) -> bool:
        return self.semantics == "civicsentry"

    def jitter_for(self, window_s: float) -> float:
        if self.jitter_seconds is not None:
            return self.jitter_seconds
        assert self.jitter_factor is not None
        # A zero window still needs a positive jitter: fall back to one second.
        return max(window_s, 1.0) * self.jitter_factor

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["object_types"] = list(self.object_types)
        d["windows"] = {k: (v if v == AUTO else float(v)) for k, v in self.windows.items()}
        return d
