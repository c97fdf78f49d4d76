"""The ``/v1`` JSON API: images and usage."""
