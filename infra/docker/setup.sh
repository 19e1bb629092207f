#!/usr/bin/env bash
# Makes a container engine and the offline image runwatch/hostjdk:1 available for the tests.
# No image registry is reachable, so the image is an empty rootfs that borrows the host's /usr,
# /lib, /lib64 and /etc (and so its JDK) through read-only bind mounts at run time.
#
# Exit status: 0 whenever the script did its job, including "the engine cannot run here" (then
# it prints "container engine unavailable: <reason>" and the tests use their declared
# child-process fallback). Non-zero only for bugs in this script (set -u, bad invocation).
set -uo pipefail

image="${RUNWATCH_TEST_IMAGE:-runwatch/hostjdk:1}"
log="/tmp/runwatch-dockerd.log"

unavailable() {
  echo "container engine unavailable: $1"
  exit 0
}

engine_up() { docker info >/dev/null 2>&1; }

# 1. Engine binaries. CI runs as root on Debian; a developer box may already have them.
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    unavailable "docker.io is not installed and cannot be installed here (need root and apt-get)"
  fi
  echo "setup.sh: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || unavailable "apt-get update failed"
  apt-get install -y -qq docker.io >/dev/null 2>&1 || unavailable "apt-get install docker.io failed"
fi

# 2. Daemon. vfs because overlay often cannot nest in sandboxes; no iptables/bridge because
#    containers here only ever use host networking on 127.0.0.1.
if ! engine_up; then
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
    unavailable "DOCKER_HOST=${DOCKER_HOST} does not answer (not starting a local dockerd for it)"
  fi
  [ "$(id -u)" = 0 ] || unavailable "dockerd is not running and starting it needs root"
  echo "setup.sh: starting dockerd (log: $log)"
  # setsid + nohup + closed stdio: the daemon must outlive this script without holding its pipes.
  setsid nohup dockerd --storage-driver=vfs --iptables=false --bridge=none \
    </dev/null >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 60); do
    engine_up && break
    kill -0 "$pid" 2>/dev/null || break # it exited: waiting longer cannot help
    sleep 1
  done
  engine_up || unavailable "dockerd did not come up (exited or no answer within 60 s); last log lines: $(tail -n 5 "$log" 2>/dev/null | tr '\n' ' ')"
fi

# 3. Image, built offline from an empty rootfs (bin/sbin symlinks so /bin/sh resolves into the
#    mounted /usr).
if ! docker image inspect "$image" >/dev/null 2>&1; then
  rootfs="$(mktemp -d)"
  mkdir -p "$rootfs"/{tmp,proc,dev,sys,etc,usr,lib,lib64}
  chmod 1777 "$rootfs/tmp"
  ln -s usr/bin "$rootfs/bin"
  ln -s usr/sbin "$rootfs/sbin"
  out="$(tar -C "$rootfs" -c . | docker import - "$image" 2>&1)"
  status=$?
  rm -rf "$rootfs"
  [ "$status" = 0 ] || unavailable "docker import of $image failed: $out"
  echo "setup.sh: imported image $image"
fi

# 4. Prove a container actually runs (dockerd can start yet fail to create containers, e.g.
#    without cgroups), the same way the tests run it: host network, host runtime mounted read-only.
#    /usr/bin/sh, not /bin/sh: images imported by hand without the bin symlink exist too.
if ! out="$(docker run --rm --network host \
    -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro -v /etc:/etc:ro \
    "$image" /usr/bin/sh -c 'echo ok' 2>&1)" || [ "$out" != ok ]; then
  unavailable "a test container does not run: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi

echo "container engine ready: docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), image $image"
