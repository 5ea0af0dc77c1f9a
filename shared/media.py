"""Media storage for generated images: save bytes under an unguessable name, get back its URL.

`MediaStore` is the interface (a local folder today, an object store later); data URLs from the
provider are decoded with `decode_data_url`.
"""

import asyncio
import base64
import binascii
import mimetypes
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, unquote_to_bytes, urlsplit

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.IGNORECASE)
# The only types stored: raster images. Anything else (HTML, SVG with scripts…) served from our
# own origin under /media/ would be a stored-XSS hole.
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}


class InvalidMedia(ValueError):
    """The data is not a decodable data URL (or the stored URL is not ours)."""


@dataclass(frozen=True)
class MediaBlob:
    content_type: str
    data: bytes

    def to_data_url(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode()}"


def decode_data_url(url: str) -> MediaBlob:
    match = _DATA_URL.match(url)
    if match is None:
        raise InvalidMedia("not a data URL")
    payload = url[match.end():]
    content_type = (match.group("mime") or "text/plain").lower()
    if match.group("b64"):
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise InvalidMedia(f"bad base64 payload: {exc}") from exc
    else:
        data = unquote_to_bytes(payload)
    if not data:
        raise InvalidMedia("empty data URL")
    return MediaBlob(content_type, data)


class MediaStore(Protocol):
    async def save(self, blob: MediaBlob, folder: str = "generated") -> str:
        """Store an image under a new random name; return its public URL (`InvalidMedia` if not an image)."""
        ...

    async def load(self, url: str) -> MediaBlob:
        """Read back something this store saved (raises `InvalidMedia` / `FileNotFoundError`)."""
        ...

    def owns(self, url: str) -> bool:
        """True when `url` points into this store."""
        ...


def new_object_name(blob: MediaBlob, folder: str) -> str:
    """`<folder>/<random uuid>.<ext>` for a storable image (unguessable, so served without login)."""
    extension = _EXTENSIONS.get(blob.content_type)
    if extension is None:
        raise InvalidMedia(f"{blob.content_type} is not a storable image type")
    return f"{folder.strip('/')}/{uuid.uuid4().hex}{extension}"


class LocalMediaStore:
    """Files under `root`, served by the gateway at `base_url` (`/media/generated/<uuid>.png`)."""

    def __init__(self, root: str | Path, base_url: str = "/media/") -> None:
        self.root = Path(root)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    async def save(self, blob: MediaBlob, folder: str = "generated") -> str:
        relative = new_object_name(blob, folder)
        await asyncio.to_thread(self._write, self.root / relative, blob.data)
        return self.base_url + relative

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so the gateway never serves a half-written file.
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(path)

    def owns(self, url: str) -> bool:
        return url.startswith(self.base_url)

    def _path_of(self, url: str) -> Path:
        if not self.owns(url):
            raise InvalidMedia(f"{url!r} is not under {self.base_url!r}")
        path = (self.root / url[len(self.base_url):]).resolve()
        if not path.is_relative_to(self.root.resolve()):  # "../" in a URL must not escape the root
            raise InvalidMedia(f"{url!r} escapes the media root")
        return path

    async def load(self, url: str) -> MediaBlob:
        path = self._path_of(url)
        data = await asyncio.to_thread(path.read_bytes)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return MediaBlob(content_type, data)


class S3MediaStore:
    """An S3-compatible bucket (AWS S3, MinIO, R2…): objects are public-read through `public_base_url`.

    Credentials come from the standard AWS environment variables or instance roles (boto3's chain).
    """

    def __init__(self, bucket: str, public_base_url: str, *, endpoint_url: str | None = None,
                 region: str | None = None, client=None) -> None:  # noqa: ANN001 - a boto3 client
        import boto3

        self.bucket = bucket
        self.base_url = public_base_url if public_base_url.endswith("/") else public_base_url + "/"
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    async def save(self, blob: MediaBlob, folder: str = "generated") -> str:
        key = new_object_name(blob, folder)
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=blob.data, ContentType=blob.content_type
        )
        return self.base_url + key

    def owns(self, url: str) -> bool:
        return url.startswith(self.base_url)

    async def load(self, url: str) -> MediaBlob:
        if not self.owns(url):
            raise InvalidMedia(f"{url!r} is not under {self.base_url!r}")
        key = url[len(self.base_url):]
        try:
            answer = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(url) from exc
        data = await asyncio.to_thread(answer["Body"].read)
        return MediaBlob(answer.get("ContentType") or "application/octet-stream", data)


def make_media_store(settings) -> MediaStore:  # noqa: ANN001 - any settings with the media fields
    """The store the settings select: `MEDIA_STORE=local` (default) or `s3`."""
    if settings.media_store == "s3":
        if not settings.media_s3_bucket or not settings.media_s3_public_base_url:
            raise SystemExit("MEDIA_STORE=s3 needs MEDIA_S3_BUCKET and MEDIA_S3_PUBLIC_BASE_URL")
        return S3MediaStore(settings.media_s3_bucket, settings.media_s3_public_base_url,
                            endpoint_url=settings.media_s3_endpoint_url, region=settings.media_s3_region)
    return LocalMediaStore(settings.media_root, settings.media_base_url)


def image_reference_ok(value: str) -> bool:
    """A chatbot picture (api.md §5): a path under `/media/` or an `https://` URL, nothing else.

    Clients put it into `<img src>`; `javascript:`, `data:`, `http:` (mixed content), protocol-relative
    `//host` and paths that climb out of /media/ are refused.
    """
    if not value or any(ch.isspace() or ch == "\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        return False
    if value.startswith("/media/"):
        segments = value[len("/media/"):].split("?", 1)[0].split("#", 1)[0].split("/")
        return bool(segments[0]) and not any(unquote(s) in (".", "..") for s in segments)
    try:
        url = urlsplit(value)
        host = url.hostname
    except ValueError:
        return False
    return url.scheme.lower() == "https" and bool(host) and url.username is None and url.password is None
