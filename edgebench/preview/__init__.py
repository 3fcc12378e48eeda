"""Live preview: a phone's camera, this device's model, the results on the phone in real time.

`edgebench preview` (edgebench/cli/preview.py) plans one target with the run's planning path,
opens its session once (engine.py), and serves one page and one WebSocket (server.py, page.py,
protocol.py). access.py decides who may connect; tls.py makes the self-signed certificate a
phone needs before it allows the camera; client.py is a Python client for tests and load.
"""
