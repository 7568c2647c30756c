"""Anthropic Messages API wire models.

`anthropic.request` holds the inbound (client) models, `anthropic.response` the outbound ones.
This package deliberately re-exports nothing: import from the submodules directly, so that the
request and response sides stay independent.
"""
