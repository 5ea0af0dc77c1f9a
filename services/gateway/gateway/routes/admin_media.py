"""POST /api/admin/media/: a staff user uploads a chatbot picture; the answer is its /media/ URL, which
the chatbot's `image` field then takes (api.md §5 accepts only such paths or https:// URLs)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.deps import StaffUser, runtime
from shared.errors import ValidationFailed
from shared.media import LocalMediaStore, MediaBlob

router = APIRouter(prefix="/api/admin", tags=["admin"])
FOLDER = "chatbots"
NOT_AN_IMAGE = "Upload a PNG, JPEG, WebP or GIF picture (up to 1 MiB)."


class UploadedMedia(BaseModel):
    url: str


def image_type(data: bytes) -> str | None:
    """The type the bytes themselves show (never the client's Content-Type): only raster images are
    stored, so nothing served from /media/ on our origin can be HTML or an SVG with scripts."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.post("/media/", status_code=201, response_model=UploadedMedia,
             summary="Upload a chatbot picture (the image's bytes as the body; PNG, JPEG, WebP or GIF)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload(request: Request, _: StaffUser) -> UploadedMedia:
    data = await request.body()  # the gateway's body limit (1 MiB, 413 beyond) already applies
    kind = image_type(data)
    if kind is None:
        raise ValidationFailed(NOT_AN_IMAGE, fields={"file": [NOT_AN_IMAGE]})
    settings = runtime(request).settings
    store = LocalMediaStore(settings.media_root, settings.media_base_url)
    return UploadedMedia(url=await store.save(MediaBlob(kind, data), FOLDER))
