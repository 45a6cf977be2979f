"""Helpers for tests that check a failing command left earlier files exactly as they were."""
import os


def snapshot(folder):
    """{relative path: bytes} of every file under `folder` (empty when it does not exist)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.relpath(os.path.join(root, name), folder)] = handle.read()
    return found
