"""Kiro (`generateAssistantResponse`) wire models.

This package deliberately re-exports nothing: import from the submodules directly
(`kiroproto.kiro.request`).
"""
