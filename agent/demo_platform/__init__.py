"""The reference platform: an aiohttp app with the pages and endpoints a real platform has."""
