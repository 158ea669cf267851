"""Plain helpers shared by the test modules (fixtures stay in the conftest files).

Import from the submodule that owns a helper, e.g. ``from helpers.client import connect``.
Test modules never import each other or ``conftest``: what two modules share lives here.
"""
