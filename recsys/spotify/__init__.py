"""Everything that talks to Spotify: spotipy clients (``client``), the public-playlist crawler
(``crawler``) and the login helpers of the app's "My Spotify" page (``oauth``). Torch-free and
Streamlit-free."""
