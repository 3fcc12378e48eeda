"""The model hub: models published as owner/name with immutable versions, subscriptions with
signed webhooks, and benchmark results per device.

server.py (FastAPI app) assembles routes/ (one router per resource, sharing state.py's HubState)
-> db.py (SQLAlchemy) + blobs.py (content-addressed files);
client.py is what the CLI and `run --model hub://...` use.
"""
