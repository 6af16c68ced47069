"""Shareable links: the address of what a page shows (``?run=``, ``?study=``, ``?runs=``) for
someone else on the same server, with a copy button.

A link never carries this session's owner token (``?session=``) or the instructor's
``?admin=``: whoever opens it can watch and read, not stop or delete (README, "Serve a lab").
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

PRIVATE = frozenset({"session", "admin"})  # tokens that belong to one browser, never to a link


def share_url(base: str | None, params: Mapping[str, str | None]) -> str:
    """``base`` (the page's address, any query or fragment dropped) with ``params`` as its query;
    without a base, the query alone (``?run=...``), to add to the server's address."""
    query = urlencode({k: v for k, v in params.items() if v and k not in PRIVATE}, safe=",")
    if not base:
        return f"?{query}"
    scheme, netloc, path, _, _ = urlsplit(base)
    return urlunsplit((scheme, netloc, path, query, ""))


def page_url() -> str | None:
    """The address this page has in the user's browser, without its query (Streamlit 1.67's
    ``st.context.url``); None where there is no browser (AppTest)."""
    try:
        return st.context.url
    except Exception:  # noqa: BLE001 - no context (a bare script): fall back to a relative link
        return None


def link_box(what: str, **params: str | None) -> str:
    """Show the link to ``what`` (e.g. 'this run') with a copy button; returns the link."""
    url = share_url(page_url(), params)
    st.caption(f"Link to {what}, for anyone on this server (it carries no session token: they can watch, not change):"
               + ("" if url.startswith("http") else " add it to this server's address."))
    st.code(url, language=None, wrap_lines=True)  # st.code has a copy button
    return url
