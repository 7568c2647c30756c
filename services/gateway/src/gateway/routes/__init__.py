"""HTTP routes: thin; they validate, resolve and hand over to a domain module."""
