"""Security tests: each finding of the review reproduced against the real stack.

The session's nats-server / redis-server fixtures come from `tests/conftest.py`; each test
module builds the part of the stack it attacks.
"""
