"""Command-line front ends: one module per ``multirm-<verb>``, each with ``main(argv=None) -> int``.

They parse options, call the library and turn ``MultiRMError`` into one line on
stderr and an exit code. No computation lives here.
"""
