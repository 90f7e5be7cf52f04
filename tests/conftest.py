"""Fixtures shared by the whole suite (the provenant.testing plugin adds the server ones)."""
