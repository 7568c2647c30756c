"""HTTP surfaces of the simulator, one module per surface (all served on one port)."""
