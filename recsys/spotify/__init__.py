"""Everything that talks to Spotify, torch-free and Streamlit-free: the id grammar (``ids``), the
names of its settings (``settings``), spotipy clients (``client``), the login of the app's "My
Spotify" page (``oauth``) and what a logged-in client reads and writes (``library``). The crawler
that uses them is an ingest source (``recsys.ingest.spotify_crawler``)."""
