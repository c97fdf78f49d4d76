"""Picora's media origin: the aiohttp app, its routes, storage backends and metadata."""
