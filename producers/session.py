"""Shopping sessions: when shoppers arrive, how many pages they open and what kind of pages.

Sessions start as a Poisson process over simulated time; the shopper who starts one is drawn
in proportion to their activity rate. A session opens a geometric number of pages separated by
exponential gaps. Each page is an item page (the shopper looks at one article), a category
page or the home page; every page asks for a slate. What the page shows is decided by the
simulator, which knows the shopper's tastes and the stock.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

PageKind = Literal["item", "category", "home"]

PAGE_KINDS: tuple[PageKind, ...] = ("item", "category", "home")


@dataclass(frozen=True)
class TrafficParameters:
    """How busy the shop is and how sessions unfold.

    Parameters
    ----------
    sessions_per_s
        Rate at which sessions start, per simulated second (0.05 is 4,320 a day).
    mean_pages
        Mean number of pages a session opens (at least one).
    mean_page_gap_s
        Mean simulated seconds between two pages of a session.
    page_shares
        Probabilities of an item page, a category page and the home page.
    """

    sessions_per_s: float = 0.05
    mean_pages: float = 4.0
    mean_page_gap_s: float = 40.0
    page_shares: tuple[float, float, float] = (0.6, 0.25, 0.15)


@dataclass(frozen=True)
class PageView:
    """One page a shopper opens: who, in which session, when, what kind, its rank in session."""

    shopper: int
    session_id: str
    at_s: float
    kind: PageKind
    page_number: int


@dataclass
class _OpenSession:
    shopper: int
    session_id: str
    pages_left: int
    pages_opened: int = 0


class Traffic:
    """The stream of pages shoppers open, in simulated time order.

    Parameters
    ----------
    rng
        The simulator's random generator; every draw comes from it, in call order.
    activity
        Relative session rate of each shopper.
    parameters
        Session rate and shape.
    session_prefix
        Start of every session id; ids are ``f"{session_prefix}{n:07d}"``.

    Attributes
    ----------
    n_sessions
        Sessions started so far.

    Examples
    --------
    >>> traffic = Traffic(np.random.default_rng(1), activity=np.ones(5), session_prefix="s")
    >>> pages = traffic.pages_until(3_600.0)
    >>> all(a.at_s <= b.at_s for a, b in zip(pages, pages[1:])), traffic.n_sessions > 0
    (True, True)

    """

    def __init__(
        self,
        rng: np.random.Generator,
        activity: np.ndarray,
        parameters: TrafficParameters | None = None,
        session_prefix: str = "s",
    ) -> None:
        self.rng = rng
        self.parameters = parameters or TrafficParameters()
        self.session_prefix = session_prefix
        self.n_sessions = 0
        self._activity_cdf = np.cumsum(activity) / np.sum(activity)
        self._page_cdf = np.cumsum(self.parameters.page_shares) / sum(self.parameters.page_shares)
        self._drawn_until_s = 0.0
        self._due: list[tuple[float, int, _OpenSession]] = []
        self._n_scheduled = 0

    def pages_until(self, until_s: float) -> list[PageView]:
        """Every page opened after the previous call and up to ``until_s``, in time order."""
        self._start_sessions(until_s)

        pages = []
        while self._due and self._due[0][0] <= until_s:
            at_s, _, session = heapq.heappop(self._due)
            pages.append(self._open_page(session, at_s))

            # The next page of the session may still fall inside this window.
            if session.pages_left > 0:
                gap_s = self.rng.exponential(self.parameters.mean_page_gap_s)
                self._schedule(at_s + gap_s, session)
        return pages

    def _start_sessions(self, until_s: float) -> None:
        """Draw the sessions that start in the window and schedule their first pages."""
        span_s = until_s - self._drawn_until_s
        if span_s <= 0:
            return

        n_new = self.rng.poisson(self.parameters.sessions_per_s * span_s)
        starts_s = np.sort(self._drawn_until_s + span_s * self.rng.random(n_new))
        shoppers = np.searchsorted(self._activity_cdf, self.rng.random(n_new), side="right")
        n_pages = self.rng.geometric(1.0 / max(1.0, self.parameters.mean_pages), n_new)
        self._drawn_until_s = until_s

        for start_s, shopper, pages in zip(starts_s, shoppers, n_pages, strict=True):
            session_id = f"{self.session_prefix}{self.n_sessions:07d}"
            self.n_sessions += 1
            shopper = min(int(shopper), len(self._activity_cdf) - 1)
            self._schedule(float(start_s), _OpenSession(shopper, session_id, int(pages)))

    def _open_page(self, session: _OpenSession, at_s: float) -> PageView:
        drawn = int(np.searchsorted(self._page_cdf, self.rng.random(), side="right"))
        kind = PAGE_KINDS[min(drawn, len(PAGE_KINDS) - 1)]
        session.pages_left -= 1
        session.pages_opened += 1
        return PageView(session.shopper, session.session_id, at_s, kind, session.pages_opened)

    def _schedule(self, at_s: float, session: _OpenSession) -> None:
        # The sequence number breaks ties between equal times without comparing sessions.
        heapq.heappush(self._due, (at_s, self._n_scheduled, session))
        self._n_scheduled += 1
