"""OpenAI Chat Completions wire models.

`openai.request` holds the inbound (client) models, `openai.response` the outbound ones. This
package deliberately re-exports nothing: import from the submodules directly.
"""
