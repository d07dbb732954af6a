"""`export --format params`: the trained parameters as one flash slot image, the bytes the
device's parameter store checkpoints (runtime/device/pstore.c), for over-the-air updates.

    [header, 32 B: 8 little-endian uint32]  magic 'MCTP', seq, model_hash, payload_bytes,
                                            step, payload_crc, reserved (0), header_crc
    [payload: the packed parameters]        report.json's params in order, each array's
                                            bytes as the C holds them (mct_get_params)

model_hash is the CRC-32 of the generated C (targets/glue.model_hash): a device loads a slot
only when it names the model it runs, so an image for another compile is never used. Both
CRCs are zlib's CRC-32 (header_crc over the first 28 bytes). seq is 1: an updater writing
the image into the slot that does not hold the newest copy sets seq = newest + 1 and the
header CRC again, as mct_pstore_prepare does (a lower seq would leave the old copy newest).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..artifacts import NP_DTYPES
from ..errors import InputError, UsageError
from ..outdir import atomic_write, check_our_output

SLOT_HEADER = struct.Struct("<8I")
SLOT_MAGIC = 0x5054434D  # 'MCTP' (runtime/device/mct_device.h MCT_SLOT_MAGIC)


def slot_image(params: dict, layout: list, step: int, model_hash: int) -> bytes:
    """Header + payload of one slot for `params` (by name) in `layout` [(name, dtype, shape)]."""
    payload = b"".join(np.ascontiguousarray(params[n], NP_DTYPES[d]).reshape(shape).tobytes()
                       for n, d, shape in layout)
    head = [SLOT_MAGIC, 1, model_hash, len(payload), step & 0xFFFFFFFF, zlib.crc32(payload), 0]
    head.append(zlib.crc32(struct.pack("<7I", *head)))
    return SLOT_HEADER.pack(*head) + payload


def read_slot_image(path) -> dict:
    """The fields of an exported image (the device's validity check, mirrored)."""
    raw = Path(path).read_bytes()
    if len(raw) < SLOT_HEADER.size:
        raise InputError(f"{path}: not a parameter image (shorter than its header)")
    h = SLOT_HEADER.unpack_from(raw)
    body = raw[SLOT_HEADER.size:]
    ok = (h[0] == SLOT_MAGIC and zlib.crc32(raw[:28]) == h[7] and len(body) == h[3]
          and zlib.crc32(body) == h[5])
    if not ok:
        raise InputError(f"{path}: not a valid parameter image (magic, size or CRC)")
    return dict(seq=h[1], model_hash=h[2], payload_bytes=h[3], step=h[4], payload=body)


def check_output_file(path, magic: bytes, what: str) -> Path:
    """An export's -o: a new file, or an earlier export of ours (it starts with `magic`);
    never a folder or a file of the user's."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"-o {path}: is a folder; give the file to write")
    if not p.parent.is_dir():
        raise UsageError(f"-o {path}: folder {p.parent} does not exist")
    if p.exists():
        try:
            with open(p, "rb") as f:
                head = f.read(len(magic))
        except OSError as e:
            raise UsageError(f"-o {path}: cannot read it ({e.strerror})") from None
        if head != magic:
            raise UsageError(f"-o {path}: exists and is not an earlier {what} of mcutrain; "
                             "choose another name (nothing was written)")
    return p


def export_params(out_dir, dest) -> dict:
    """Write OUT's trained parameters (params.npz, else the compiled ones) to `dest` as a
    slot image; returns its fields."""
    from ..targets.glue import model_hash
    from ..train.host import open_model

    out = check_our_output(out_dir)
    dest = check_output_file(dest, struct.pack("<I", SLOT_MAGIC), "parameter image")
    cm = open_model(out)
    img = slot_image(cm.get_params(), cm.params_layout, cm.step, model_hash(out))
    atomic_write(dest, lambda tmp: Path(tmp).write_bytes(img))
    return dict(path=str(dest), bytes=len(img), payload_bytes=len(img) - SLOT_HEADER.size,
                step=cm.step, model_hash=model_hash(out))
