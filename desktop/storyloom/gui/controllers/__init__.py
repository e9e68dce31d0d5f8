"""QObjects that own asyncio tasks and turn core events into Qt signals (no widgets here)."""
