"""Pictures that look alike: a perceptual hash (imagehash's pHash) of each picture's
staff copy, compared by Hamming distance, so the same scene sent twice (re-encoded,
resized, a little cropped) is shown beside the tip as a likely duplicate (as Meedan
Check links similar items). Hashes are kept in memory only; a picture is read once."""

from __future__ import annotations

import io
from collections import OrderedDict

import imagehash
from PIL import Image

from bot.uploads import UploadStore

CLOSE = 10  # of 64 bits: the same picture re-encoded or resized stays well under this
KEPT = 20_000


class PhotoHashes:
    def __init__(self, uploads: UploadStore) -> None:
        self.uploads = uploads
        self._hashes: OrderedDict[str, imagehash.ImageHash | None] = OrderedDict()

    def hash_of(self, ref: str) -> imagehash.ImageHash | None:
        if ref in self._hashes:
            self._hashes.move_to_end(ref)
            return self._hashes[ref]
        found = None
        data = self.uploads.read_clean(ref)
        if data:
            try:
                with Image.open(io.BytesIO(data)) as picture:
                    found = imagehash.phash(picture)
            except (OSError, ValueError):
                found = None
        self._hashes[ref] = found
        while len(self._hashes) > KEPT:
            self._hashes.popitem(last=False)
        return found

    def alike(self, mine: list[str], others: list[tuple[str, str]]) -> list[tuple[str, int]]:
        """(code, distance) of the other tips with a picture close to one of mine."""
        own = [h for h in (self.hash_of(ref) for ref in mine) if h is not None]
        best: dict[str, int] = {}
        for code, ref in others:
            theirs = self.hash_of(ref)
            if theirs is None:
                continue
            distance = min((int(theirs - h) for h in own), default=CLOSE + 1)
            if distance <= CLOSE and distance < best.get(code, CLOSE + 1):
                best[code] = distance
        return sorted(best.items(), key=lambda item: item[1])
