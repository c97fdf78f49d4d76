"""The dashboard: static ES modules, CSS and HTML shells served by the origin, and their page routes."""
