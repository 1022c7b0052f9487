"""The names of the Spotify settings, read from ``st.secrets`` or the environment (the app) and
from the environment (the crawler). Only names here; each reader validates what it needs."""
CLIENT_ID = "SPOTIFY_CLIENT_ID"
CLIENT_SECRET = "SPOTIFY_CLIENT_SECRET"
REDIRECT_URI = "SPOTIFY_REDIRECT_URI"
# Where the accounts service and the Web API live: Spotify's own unless set (the tests' fake server).
ACCOUNTS_BASE = "SPOTIFY_ACCOUNTS_BASE"
API_BASE = "SPOTIFY_API_BASE"
# The crawler's user login without a browser round trip (``python -m recsys ingest spotify --liked``).
REFRESH_TOKEN = "SPOTIFY_REFRESH_TOKEN"

LOGIN = (CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)  # all three, or none: login is off
APP = LOGIN + (ACCOUNTS_BASE, API_BASE)           # what the app reads
