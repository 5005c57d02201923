"""Layer signatures: what the time of one layer depends on (the key of a per-layer latency
table), read from a whole network statically (:mod:`.static`) or by tracing (:mod:`.tracing`).

:mod:`.layer` defines the one signature type, :mod:`.network` reads a network's signatures.
"""
