#!/usr/bin/env python3
"""More of the hostile corpus, where C test helpers are clumsy: docker-archives
whose manifest.json points outside the archive or that hold two manifests,
compressed layers with bytes after their end, and decompression bombs.

Usage: mkhostile.py OUTDIR
Writes, beside what tests/tools/mkhostile.c writes:
  refuse-da-*.tar        docker-archives `pare unpack` must refuse
  accept-da-*.tar        docker-archives it must accept (docker's legacy links)
  refuse-*-trailing/     OCI layouts whose layer blob has bytes after the stream
  bomb/                  a 21 MB gzip layer of a 20 GiB file of zeros (its
                         diff_id is not the real one: pare must stop first)
  holes/                 a 2 GiB file of zeros, correct in every digest, that
                         must unpack into a 1 GiB filesystem (written as holes)
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zlib

GiB = 1 << 30


def tar_of(files):
    """An uncompressed tar of {name: bytes}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def config_for(diff_ids):
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def docker_archive(path, members, manifest):
    """A tar of MEMBERS (name -> bytes, in order; names as given, '../'
    included) plus MANIFEST (a list, or a list of manifest.json bodies to
    write more than once)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        bodies = manifest if isinstance(manifest[0], (bytes, str)) else [json.dumps(manifest)]
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for body in bodies:
            body = body.encode() if isinstance(body, str) else body
            ti = tarfile.TarInfo("manifest.json")
            ti.size = len(body)
            t.addfile(ti, io.BytesIO(body))


def docker_archives(out):
    layer = tar_of({"etc/hostname": b"pare\n"})
    cfg = config_for([sha(layer)])
    cfg_name = sha(cfg)[7:] + ".json"
    good = [{"Config": cfg_name, "RepoTags": ["h:1"], "Layers": ["l/layer.tar"]}]
    # Config named with ../ while a member of that exact name exists.
    docker_archive(f"{out}/refuse-da-dotdot-config.tar",
                   [("../" + cfg_name, cfg), ("l/layer.tar", layer)],
                   [{"Config": "../" + cfg_name, "RepoTags": ["h:1"], "Layers": ["l/layer.tar"]}])
    # An absolute layer path (canonicalised, it would name a real member).
    docker_archive(f"{out}/refuse-da-abs-layer.tar",
                   [(cfg_name, cfg), ("/l/layer.tar", layer)],
                   [{"Config": cfg_name, "RepoTags": ["h:1"], "Layers": ["/l/layer.tar"]}])
    # Two manifest.json members: which one counts depends on the reader.
    other = [{"Config": cfg_name, "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}]
    docker_archive(f"{out}/refuse-da-two-manifests.tar", [(cfg_name, cfg), ("l/layer.tar", layer)],
                   [json.dumps(good), json.dumps(other)])
    # Docker's legacy layout links an identical layer to another image's
    # directory: "b/layer.tar -> ../a/layer.tar". Must be accepted.
    two = [{"Config": cfg_name, "RepoTags": ["h:1"], "Layers": ["a/layer.tar", "b/layer.tar"]}]
    cfg2 = config_for([sha(layer), sha(layer)])
    two[0]["Config"] = sha(cfg2)[7:] + ".json"
    with tarfile.open(f"{out}/accept-da-legacy-link.tar", "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [(two[0]["Config"], cfg2), ("a/layer.tar", layer), ("manifest.json", json.dumps(two).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("b/layer.tar")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../a/layer.tar"
        t.addfile(ti)
    # A layer member that is a symlink climbing out of the archive.
    with tarfile.open(f"{out}/refuse-da-link-escape.tar", "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [(cfg_name, cfg), ("manifest.json", json.dumps(good).encode())]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("l/layer.tar")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../../layer.tar"
        t.addfile(ti)


def oci_layout(d, blob, media_type, diff_id):
    os.makedirs(f"{d}/blobs/sha256", exist_ok=True)

    def put(b):
        with open(f"{d}/blobs/sha256/{hashlib.sha256(b).hexdigest()}", "wb") as f:
            f.write(b)
        return sha(b)
    cfg = config_for([diff_id])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(cfg), "size": len(cfg)},
                           "layers": [{"mediaType": media_type, "digest": put(blob), "size": len(blob)}]}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "digest": put(manifest), "size": len(manifest),
                                                "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(f"{d}/index.json", "w") as f:
        json.dump(index, f)
    with open(f"{d}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def trailing(out):
    layer = tar_of({"etc/hostname": b"pare\n"})
    junk = b"\x00" * 512 + b"appended: not another member"
    oci_layout(f"{out}/refuse-gzip-trailing", gzip.compress(layer, mtime=0) + junk,
               "application/vnd.oci.image.layer.v1.tar+gzip", sha(layer))
    zst = subprocess.run(["zstd", "-q", "-c"], input=layer, stdout=subprocess.PIPE, check=True).stdout
    oci_layout(f"{out}/refuse-zstd-trailing", zst + junk, "application/vnd.oci.image.layer.v1.tar+zstd",
               sha(layer))


def zeros_gzip_member(n):
    """A gzip member of N zero bytes (deflate's best ratio, about 1000x)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    chunk = bytes(1 << 24)
    parts = []
    for _ in range(n // len(chunk)):
        parts.append(z.compress(chunk))
    parts.append(z.flush())
    return b"".join(parts)


def zero_file_layer(size, gib_member):
    """gzip members: the tar header, SIZE/GiB members of a GiB of zeros,
    the end marker; and the tar's header for the diff_id."""
    ti = tarfile.TarInfo("zeros")
    ti.size = size
    ti.mode = 0o644
    head = ti.tobuf(format=tarfile.PAX_FORMAT)
    end = bytes(1024)
    blob = gzip.compress(head, mtime=0) + gib_member * (size // GiB) + gzip.compress(end, mtime=0)
    return blob, head, end


def bombs(out):
    gib = zeros_gzip_member(GiB)
    blob, _, _ = zero_file_layer(20 * GiB, gib)
    # The diff_id of 20 GiB would take as long to compute as the bomb takes
    # to inflate; pare must stop at the expansion limit long before it.
    oci_layout(f"{out}/bomb", blob, "application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "0" * 64)
    blob, head, end = zero_file_layer(2 * GiB, gib)
    h = hashlib.sha256(head)
    block = bytes(1 << 24)
    for _ in range(2 * GiB // len(block)):
        h.update(block)
    h.update(end)
    oci_layout(f"{out}/holes", blob, "application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + h.hexdigest())


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
docker_archives(out)
trailing(out)
if "--no-bombs" not in sys.argv:
    bombs(out)
