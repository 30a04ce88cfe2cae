"""The hostile-script corpus: one module per family, each a list of ``Attack``.

``test_corpus.py`` runs every attack in one sandbox and judges it by its
effects on the host; ``conftest.py`` prints the table by family.
"""

from __future__ import annotations

from . import blocking, exhaustion, fs, host_functions, internals, native, network, secrets
from ._attack import NO_VALUE, Attack, Expect
from ._report import NOTES, OUTCOMES, Outcome, table

__all__ = ["ATTACKS", "FAMILIES", "NOTES", "NO_VALUE", "OUTCOMES", "Attack", "Expect", "Outcome", "table"]

_MODULES = (fs, network, secrets, native, internals, exhaustion, blocking, host_functions)

ATTACKS: list[Attack] = [attack for module in _MODULES for attack in module.ATTACKS]
FAMILIES: tuple[str, ...] = tuple(module.ATTACKS[0].family for module in _MODULES)
