"""A loopback Azure Batch service that runs tasks on this machine (``superbatch emulator``).

Use :class:`batch_emulator.server.BatchEmulator` from Python; this package itself only
holds the development credentials (nothing is imported at import time).
"""

DEV_ACCOUNT = "emulator"
# A fixed, public development key (base64 of an ASCII sentence), like Azurite's: not a secret.
DEV_KEY = "c3VwZXJiYXRjaCBlbXVsYXRvciBkZXZlbG9wbWVudCBrZXk7IHB1YmxpYywgbm90IGEgc2VjcmV0ISEhISEhIQ=="
