"""The hub role: the regional coordination centre's console on top of its node.

``lali hub run --config hub.toml`` runs a normal node (role ``hub`` in the directory)
and attaches to it: a watcher of network-wide metadata (clear headers only), member
liveness from heartbeats, consumer lag, a correlation index over the alerts the hub
can open, analysis bulletins, and a web console for the operator (see docs/hub.md).
"""
