"""GET /media/…: chatbot pictures and generated images (unguessable names, served without login)."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def mount_media(app: FastAPI, root: str | Path, base_url: str = "/media/") -> None:
    directory = Path(root)
    directory.mkdir(parents=True, exist_ok=True)
    app.mount(base_url.rstrip("/") or "/media", StaticFiles(directory=directory), name="media")
