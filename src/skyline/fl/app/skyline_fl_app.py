"""Entry points Flower loads from the app bundle; the logic lives in skyline.fl.deploy."""

from skyline.fl.deploy import client_app, server_app

__all__ = ["client_app", "server_app"]
