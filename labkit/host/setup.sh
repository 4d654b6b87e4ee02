#!/usr/bin/env bash
# Prepares this host for labkit: a Docker engine, debootstrap, inotify limits for several
# kubelets, and, where the capability bounding set is short (some VMs and sandboxes),
# the labkit-runc runtime that lets `docker run --privileged` work. Safe to run again:
# every step first looks whether it is already done.
#
#   bash labkit/host/setup.sh                       prepare the host
#   bash labkit/host/setup.sh --print-probe-image   print the probe image name and exit
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
capwrap_src="$here/capwrap"
runtime_name=labkit-runc
runtime_path=/usr/local/libexec/labkit/labkit-runc
daemon_json=/etc/docker/daemon.json
dockerd_log=/var/log/labkit-dockerd.log
# Marks a dockerd this script started, which it may restart; any other it only signals.
dockerd_pidfile=/run/labkit-dockerd.pid
managed_label=io.labkit.managed=true
cache_root=${LABKIT_CACHE_DIR:-$HOME/.cache/labkit}
probe_container=labkit-host-probe-$$

say() { echo "host: $*"; }
die() {
    echo "host: error: $*" >&2
    exit 1
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        die "'$*' needs root; run this script as root"
    fi
}

# Must match labkit.host.wrapper.capwrap_source_hash: the sha256 of the `sha256sum`
# listing of go.mod and the non-test Go files, in C collation.
source_hash() {
    (
        cd "$capwrap_src"
        printf '%s\n' go.mod *.go | grep -v '_test\.go$' | LC_ALL=C sort | xargs sha256sum
    ) | sha256sum | cut -d' ' -f1
}

hash=$(source_hash)
probe_image=labkit/probe:$hash

if [[ ${1:-} == --print-probe-image ]]; then
    echo "$probe_image"
    exit 0
fi
[[ $# -eq 0 ]] || die "unknown arguments: $*"

engine_answers() { docker info >/dev/null 2>&1; }

apt_updated=false
apt_install() {
    local candidate
    candidate=$(apt-cache policy "$@" 2>/dev/null | awk '/Candidate:/ {print $2}' | sort -u)
    if [[ $apt_updated == false && (-z $candidate || $candidate == *"(none)"*) ]]; then
        say "apt-get update (no candidate for $*)"
        as_root apt-get update -qq
        apt_updated=true
    fi
    say "installing $* with apt-get"
    # Stale package lists make the mirror answer 404; one update and a retry cover that.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@" </dev/null; then
        [[ $apt_updated == false ]] || return 1
        as_root apt-get update -qq
        apt_updated=true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "$@" </dev/null
    fi
}

install_packages() {
    local wanted=()
    if ! engine_answers && ! command -v dockerd >/dev/null; then
        wanted+=(docker.io)
    fi
    command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || wanted+=(debootstrap)
    go_binary >/dev/null || wanted+=(golang-go)
    # The e2e busybox test image is built, statically, from Debian's source package
    # (labkit/suites/busybox.py): a C toolchain with libc.a, dpkg-source and patch.
    local tool
    for tool in gcc make dpkg-source; do
        command -v "$tool" >/dev/null || { wanted+=(build-essential); break; }
    done
    [[ -e /usr/lib/$(uname -m)-linux-gnu/libc.a ]] || [[ " ${wanted[*]} " == *" build-essential "* ]] ||
        wanted+=(build-essential)
    command -v patch >/dev/null || wanted+=(patch)
    # runc is built with seccomp (cgo), linking Debian's libseccomp statically through
    # pkg-config (labkit/nodeimage/components.py runc()).
    [[ -e /usr/lib/$(uname -m)-linux-gnu/libseccomp.a ]] || wanted+=(libseccomp-dev)
    command -v pkg-config >/dev/null || wanted+=(pkg-config)
    if [[ ${#wanted[@]} -eq 0 ]]; then
        say "packages: docker engine, debootstrap, go, a C toolchain and libseccomp already present"
        return
    fi
    command -v apt-get >/dev/null ||
        die "missing ${wanted[*]} and this is not a Debian-like host; install them yourself"
    apt_install "${wanted[@]}" ||
        die "could not install ${wanted[*]} with apt-get (see above); install a Docker Engine" \
            "(docker.io or docker-ce), debootstrap, Go, build-essential, patch," \
            "libseccomp-dev and pkg-config" \
            "yourself, then run this again"
}

go_binary() {
    if command -v go; then
        return 0
    fi
    [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go
}

wait_for_engine() {
    local seconds=$1
    for ((i = 0; i < seconds * 2; i++)); do
        engine_answers && return 0
        sleep 0.5
    done
    return 1
}

start_dockerd() {
    if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
        say "starting docker.service"
        as_root systemctl start docker.service
    else
        say "starting dockerd in the background (log: $dockerd_log)"
        # Its own session, so that the end of this shell or its process group spares it.
        as_root setsid nohup dockerd >>"$dockerd_log" 2>&1 </dev/null &
    fi
    if ! wait_for_engine 60; then
        [[ -f $dockerd_log ]] && tail -n 30 "$dockerd_log" >&2
        die "dockerd did not answer within 60 s (log above, $dockerd_log); fix the engine" \
            "or start one yourself, then run this again"
    fi
    if [[ ! -d /run/systemd/system ]]; then
        as_root cp /var/run/docker.pid "$dockerd_pidfile"
    fi
}

ensure_engine() {
    if engine_answers; then
        say "docker engine answers: $(docker version --format '{{.Server.Version}}')"
        return
    fi
    command -v dockerd >/dev/null ||
        die "no dockerd after installing packages; install a Docker Engine and start it"
    start_dockerd
    say "docker engine answers: $(docker version --format '{{.Server.Version}}')"
}

raise_inotify_limit() {
    local name=$1 floor=$2 file=/proc/sys/fs/inotify/$1 current
    current=$(cat "$file")
    if ((current >= floor)); then
        say "fs.inotify.$name is $current (>= $floor)"
        return
    fi
    # Each kubelet and its pods hold inotify instances; kind's hosts use these values.
    if echo "$floor" 2>/dev/null | as_root tee "$file" >/dev/null 2>&1; then
        say "raised fs.inotify.$name from $current to $floor"
    else
        say "warning: could not raise fs.inotify.$name from $current to $floor;" \
            "labs with several nodes may run out of inotify watches"
    fi
}

build_capwrap() {
    local out=$cache_root/capwrap/$hash/labkit-runc go tmp
    if [[ -x $out ]]; then
        say "capwrap $hash already built: $out" >&2
        echo "$out"
        return
    fi
    go=$(go_binary) || die "Go is needed to build labkit-runc; install it and run this again"
    mkdir -p "$(dirname "$out")"
    tmp=$(mktemp "$out.XXXXXX")
    say "building capwrap into $out" >&2
    (cd "$capwrap_src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local "$go" build -trimpath -o "$tmp" .)
    chmod 0755 "$tmp"
    mv -f "$tmp" "$out"
    echo "$out"
}

install_runtime() {
    local binary=$1 tmp
    if cmp -s "$binary" "$runtime_path"; then
        say "$runtime_path is up to date"
        return
    fi
    as_root mkdir -p "$(dirname "$runtime_path")"
    # A rename, so that a dockerd running the old binary never sees half of the new one.
    tmp=$(as_root mktemp "$runtime_path.XXXXXX")
    as_root cp "$binary" "$tmp"
    as_root chmod 0755 "$tmp"
    as_root mv -f "$tmp" "$runtime_path"
    say "installed $runtime_path"
}

import_probe_image() {
    local binary=$1 dir stale
    if docker image inspect "$probe_image" >/dev/null 2>&1; then
        say "probe image $probe_image present"
    else
        dir=$(mktemp -d)
        cp "$binary" "$dir/capwrap"
        chmod 0755 "$dir/capwrap"
        tar -C "$dir" --owner=0 --group=0 --numeric-owner -cf - capwrap |
            docker import --change 'ENTRYPOINT ["/capwrap","probe"]' \
                --change "LABEL $managed_label" - "$probe_image" >/dev/null
        rm -rf "$dir"
        say "imported probe image $probe_image"
    fi
    stale=$(docker images labkit/probe --format '{{.Repository}}:{{.Tag}}' |
        grep -vxF "$probe_image" || true)
    if [[ -n $stale ]]; then
        say "removing older probe images: $(echo "$stale" | tr '\n' ' ')"
        echo "$stale" | xargs docker rmi >/dev/null
    fi
}

cleanup() {
    docker rm -f "$probe_container" >/dev/null 2>&1 || true
}

# Runs the probe privileged; prints its output, or the error, and returns docker's status.
probe_privileged() {
    cleanup
    docker run --rm --privileged --label "$managed_label" --name "$probe_container" "$@" \
        "$probe_image" 2>&1
}

runtime_listed() {
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"$runtime_name\""
}

register_runtime() {
    local result
    result=$(as_root python3 - "$daemon_json" "$runtime_name" "$runtime_path" <<'EOF'
import json
import os
import sys

path, name, binary = sys.argv[1:]
try:
    with open(path) as file:
        config = json.load(file)
except FileNotFoundError:
    config = {}
except json.JSONDecodeError as error:
    sys.exit(f"{path} is not valid JSON ({error}); fix it and run this again")
wanted = {"path": binary}
if config.get("runtimes", {}).get(name) == wanted:
    print("unchanged")
    sys.exit()
config.setdefault("runtimes", {})[name] = wanted
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".labkit-tmp", "w") as file:
    json.dump(config, file, indent=2)
    file.write("\n")
os.replace(path + ".labkit-tmp", path)
print("changed")
EOF
    )
    if [[ $result == changed ]]; then
        say "registered runtime $runtime_name in $daemon_json"
    else
        say "runtime $runtime_name already in $daemon_json"
    fi
}

wait_for_runtime() {
    for ((i = 0; i < $1 * 2; i++)); do
        runtime_listed && return 0
        sleep 0.5
    done
    return 1
}

restart_own_dockerd() {
    local pid
    pid=$(cat "$dockerd_pidfile")
    say "restarting dockerd (pid $pid, started by this script)"
    as_root kill "$pid"
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    start_dockerd
}

reload_dockerd() {
    local pid
    if [[ -d /run/systemd/system ]] && systemctl is-active --quiet docker.service 2>/dev/null; then
        say "reloading docker.service"
        as_root systemctl reload docker.service
    elif pid=$(cat /var/run/docker.pid 2>/dev/null) && [[ -n $pid ]]; then
        say "sending SIGHUP to dockerd (pid $pid) to load $daemon_json"
        as_root kill -HUP "$pid"
    else
        die "cannot find dockerd to reload; restart it so that it reads $daemon_json"
    fi
    wait_for_runtime 15 && return
    if [[ -f $dockerd_pidfile ]] && [[ $(cat "$dockerd_pidfile") == "$(cat /var/run/docker.pid 2>/dev/null)" ]]; then
        restart_own_dockerd
        wait_for_runtime 15 && return
    fi
    die "dockerd does not list runtime $runtime_name after a reload; restart dockerd"
}

verify_exec() {
    local runtime_args=("$@") output
    cleanup
    docker run -d --privileged --label "$managed_label" --name "$probe_container" \
        "${runtime_args[@]}" --entrypoint /capwrap "$probe_image" sleep >/dev/null
    if ! output=$(docker exec "$probe_container" /capwrap probe 2>&1); then
        die "docker exec into a privileged container failed: $output"
    fi
    docker rm -f "$probe_container" >/dev/null
    say "docker exec into a privileged container works (container lacks: $output)"
}

ensure_privileged_containers() {
    local output
    if output=$(probe_privileged); then
        say "privileged containers work with docker's default runtime; nothing to wrap" \
            "(container lacks: $output)"
        verify_exec
        return
    fi
    if [[ $output != *"unable to apply caps"* ]]; then
        die "docker run --privileged $probe_image failed: $output"
    fi
    say "docker run --privileged fails (unable to apply caps): the host's bounding set" \
        "lacks $(missing_caps_of_host), so privileged containers need runtime $runtime_name"
    register_runtime
    runtime_listed || reload_dockerd
    if ! output=$(probe_privileged --runtime "$runtime_name"); then
        die "docker run --privileged --runtime $runtime_name still fails: $output;" \
            "see $dockerd_log and $daemon_json"
    fi
    say "privileged containers work through $runtime_name (container lacks: $output)"
    verify_exec --runtime "$runtime_name"
}

missing_caps_of_host() {
    "$runtime_path" probe
}

main() {
    trap cleanup EXIT
    install_packages
    ensure_engine
    raise_inotify_limit max_user_watches 524288
    raise_inotify_limit max_user_instances 512
    local binary
    binary=$(build_capwrap)
    install_runtime "$binary"
    import_probe_image "$binary"
    ensure_privileged_containers
    say "ready"
}

main
