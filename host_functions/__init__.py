"""Host functions the guest can reach: the tool registry lands here.

Nothing is exported yet: in this release the only host functions are the
runtime's own (output, sleep) and every tool call is denied.
"""

__all__: list[str] = []
