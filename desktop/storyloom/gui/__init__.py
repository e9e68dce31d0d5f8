"""The Qt layer: controllers (QObjects that own asyncio tasks) and render-only widgets."""
