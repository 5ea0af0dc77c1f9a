"""The S3-compatible media store against moto's in-process S3 (a stand-in: no object store runs here)."""

import boto3
import pytest
from moto import mock_aws

from shared.media import InvalidMedia, MediaBlob, S3MediaStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def s3_client():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test",
                              aws_secret_access_key="test")
        client.create_bucket(Bucket="media")
        yield client


async def test_save_then_load_round_trip(s3_client):
    store = S3MediaStore("media", "https://cdn.example.com/media", client=s3_client)
    url = await store.save(MediaBlob("image/png", PNG))
    assert url.startswith("https://cdn.example.com/media/generated/") and url.endswith(".png")
    key = url.removeprefix("https://cdn.example.com/media/")
    stored = s3_client.get_object(Bucket="media", Key=key)
    assert stored["ContentType"] == "image/png" and stored["Body"].read() == PNG
    loaded = await store.load(url)
    assert loaded == MediaBlob("image/png", PNG)


async def test_refuses_non_images_and_foreign_urls(s3_client):
    store = S3MediaStore("media", "https://cdn.example.com/media/", client=s3_client)
    with pytest.raises(InvalidMedia):
        await store.save(MediaBlob("image/svg+xml", b"<svg/>"))
    with pytest.raises(InvalidMedia):
        await store.load("https://elsewhere.example.com/x.png")
    with pytest.raises(FileNotFoundError):
        await store.load("https://cdn.example.com/media/generated/missing.png")
