"""POST /api/admin/media/: a staff user uploads a chatbot picture; the answer is its /media/ URL, which
the chatbot's `image` field then takes (api.md §5 accepts only such paths or https:// URLs)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.deps import StaffUser, runtime
from shared.errors import ValidationFailed
from shared.media import LocalMediaStore, MediaBlob

router = APIRouter(prefix="/api/admin", tags=["admin"])
FOLDER = "chatbots"
# The first bytes of each stored type: the declared Content-Type must match the data, so nothing but a
# raster image (never HTML or SVG) is ever served from /media/ on our origin.
SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
NOT_AN_IMAGE = "Upload a PNG, JPEG, WebP or GIF picture (up to 1 MiB)."


class UploadedMedia(BaseModel):
    url: str


def _matches(content_type: str, data: bytes) -> bool:
    if content_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return any(data.startswith(signature) for signature in SIGNATURES.get(content_type, ()))


@router.post("/media/", status_code=201, response_model=UploadedMedia,
             summary="Upload a chatbot picture: the raw image as the body, its type as Content-Type",
             openapi_extra={"requestBody": {"required": True, "content": {
                 kind: {"schema": {"type": "string", "format": "binary"}}
                 for kind in ("image/png", "image/jpeg", "image/webp", "image/gif")}}})
async def upload(request: Request, _: StaffUser) -> UploadedMedia:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await request.body()  # the gateway's body limit (1 MiB, 413 beyond) already applies
    if not data or not _matches(content_type, data):
        raise ValidationFailed(NOT_AN_IMAGE, fields={"file": [NOT_AN_IMAGE]})
    settings = runtime(request).settings
    store = LocalMediaStore(settings.media_root, settings.media_base_url)
    return UploadedMedia(url=await store.save(MediaBlob(content_type, data), FOLDER))
