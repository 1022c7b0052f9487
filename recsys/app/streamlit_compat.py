"""The one place the app touches a private Streamlit internal, and why.

The app keeps its pages in the top-level ``pages/`` folder and registers each with
``st.navigation`` (``streamlit_app.py``). Streamlit (1.67, and no supported option up to it: no
config setting, no ``st.navigation`` argument) decides on a server's first script run whether it
is a legacy pages-directory app — because ``pages/`` exists — and stays so until ``st.navigation``
runs. A first visit straight to ``/recommend`` then runs ``pages/recommend.py`` *without* the
entrypoint (no model picker, no OAuth callback), on every run, until someone opens ``/``. The
flag is ``PagesManager.uses_pages_directory``; ``st.navigation`` sets it to False itself.

``requirements.txt`` caps Streamlit at the range this was tested with, and
``tests/test_app.py::test_the_private_streamlit_flag_still_exists`` fails when the flag is gone.
"""
from __future__ import annotations

FLAG = "uses_pages_directory"


def _pages_manager():
    from streamlit.runtime.pages_manager import PagesManager
    return PagesManager


def flag_present() -> bool:
    """Whether this Streamlit still has the legacy-pages flag the functions below set."""
    try:
        return hasattr(_pages_manager(), FLAG)
    except ImportError:
        return False


def leave_legacy_pages_mode() -> None:
    """On a page run in legacy pages-directory mode: switch the flag off, as ``st.navigation``
    would, and run again through the entrypoint. A no-op otherwise. ``recsys.app.session`` calls
    it on import, because a legacy-mode run starts at the page file, never at the entrypoint."""
    import streamlit as st

    if flag_present() and getattr(_pages_manager(), FLAG):
        setattr(_pages_manager(), FLAG, False)
        st.rerun()


def navigation_only_app_tests() -> None:
    """Make every ``AppTest`` run go through the entrypoint, as a real server does once
    ``st.navigation`` has run. AppTest resets the flag before each run and then, because a
    ``pages/`` folder exists, runs the current page file *without* the entrypoint from the second
    run on (streamlit#9446; the fix in #14217 does not cover apps that keep ``pages/``)."""
    manager = _pages_manager()
    if getattr(manager.__init__, "navigation_only", False):
        return
    original = manager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        setattr(manager, FLAG, False)

    init.navigation_only = True
    manager.__init__ = init
