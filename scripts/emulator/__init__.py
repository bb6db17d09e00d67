"""The local AWS emulator, in parts (being moved here from scripts/emulator.py)."""
