#!/usr/bin/env bash
# Packs bundles/busybox/rootfs as a one-layer image archive for clients that only take images
# (containerd's ctr, podman, docker): there is no registry here.
#   build-oci-image.sh OUT.tar [NAME]     NAME defaults to localhost/tsrunc-busybox:latest
# The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/…: `ctr image import`,
# `podman load`, `oci-archive:` refs) that also carries docker's manifest.json, so that docker 20.10's
# `docker load` (which reads only its own format) takes the same file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build-oci-image.sh OUT.tar [NAME]}"
name="${2:-localhost/tsrunc-busybox:latest}"
rootfs="$here/busybox/rootfs"
[ -x "$rootfs/bin/busybox" ] || bash "$here/build-busybox.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
blobs="$work/blobs/sha256"
mkdir -p "$blobs"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
# Stores a file as a blob and prints its digest.
blob() { local d; d="$(sha "$1")"; mv "$1" "$blobs/$d"; echo "$d"; }

# The layer: fixed owner and times, so that the same rootfs gives the same digests.
tar -C "$rootfs" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$work/layer.tar" .
diff_id="$(sha "$work/layer.tar")"
gzip -n -6 "$work/layer.tar"
layer_size="$(size "$work/layer.tar.gz")"
layer="$(blob "$work/layer.tar.gz")"

cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"bundles/build-oci-image.sh"}]}
EOF
config_size="$(size "$work/config.json")"
config="$(blob "$work/config.json")"

cat > "$work/manifest" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}]}
EOF
manifest_size="$(size "$work/manifest")"
manifest="$(blob "$work/manifest")"

# ref.name is the tag (podman, the OCI way); io.containerd.image.name the full name ctr imports as.
cat > "$work/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,
   "annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"${name##*:}"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
# docker's own format: the same blobs, named by path (docker loads gzipped layers too).
echo "[{\"Config\":\"blobs/sha256/$config\",\"RepoTags\":[\"$name\"],\"Layers\":[\"blobs/sha256/$layer\"]}]" > "$work/manifest.json"

tar -C "$work" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$out.tmp" oci-layout index.json manifest.json blobs
mv "$out.tmp" "$out"
