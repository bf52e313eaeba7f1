"""The registry client: the only package that imports aiohttp."""

from relocator.registry.client import MountResult, RegistryClient
from relocator.registry.session import open_session
from relocator.registry.transport import Transport
from relocator.registry.upload import ChunkOpener, Uploader

__all__ = ["ChunkOpener", "MountResult", "RegistryClient", "Transport", "Uploader", "open_session"]
