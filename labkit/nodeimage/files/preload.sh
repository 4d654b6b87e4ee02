#!/bin/bash
# Runs once inside the node image being assembled: installs labkit's files, then imports
# every component image into containerd's k8s.io namespace so nodes never pull.
set -o errexit -o nounset -o pipefail
stage=/labkit-stage

install -m 0755 "${stage}"/bin/* /usr/bin/
# The runtime labkit builds: containerd, its shim and ctr; runc; the CNI plugins.
install -D -m 0755 -t /usr/local/bin "${stage}"/runtime/containerd*  "${stage}/runtime/ctr"
install -D -m 0755 "${stage}/runtime/runc" /usr/local/sbin/runc
install -D -m 0755 -t /opt/cni/bin "${stage}"/cni/*
install -D -m 0755 "${stage}/labkit-runc" /usr/local/sbin/labkit-runc
install -D -m 0755 "${stage}/labkit-entrypoint" /usr/local/bin/labkit-entrypoint
install -D -m 0644 "${stage}/containerd.service" /etc/systemd/system/containerd.service
install -D -m 0644 "${stage}/kubelet.service" /etc/systemd/system/kubelet.service
install -D -m 0644 "${stage}/10-kubeadm.conf" /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
install -D -m 0644 "${stage}/containerd-config.toml" /etc/containerd/config.toml
install -D -m 0644 "${stage}/crictl.yaml" /etc/crictl.yaml
install -D -m 0644 "${stage}/default-cni.yaml" /kind/manifests/default-cni.yaml
install -D -m 0644 "${stage}/version" /kind/version
install -D -m 0644 "${stage}/images.txt" /kind/images.txt
mkdir -p /etc/systemd/system/multi-user.target.wants /etc/kubernetes/manifests /var/lib/kubelet \
  /etc/cni/net.d /etc/containerd/certs.d
for unit in containerd kubelet; do
  ln -sf "/etc/systemd/system/${unit}.service" "/etc/systemd/system/multi-user.target.wants/${unit}.service"
done
# Units that make no sense in a container and slow its boot. A getty on the console also
# ends systemd's status lines there, racing the "Reached target Multi-User System" line
# labkit waits for (trixie's systemd lost that race on a busy host).
for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
    systemd-modules-load.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
  ln -sf /dev/null "/etc/systemd/system/${unit}"
done

containerd --log-level warn &
containerd_pid=$!
for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
for archive in "${stage}"/images/*.tar; do
  ctr --namespace=k8s.io images import --no-unpack "${archive}"
done
# Pinned images are exempt from the kubelet's image garbage collection.
ctr --namespace=k8s.io images list -q | grep -v '^sha256:' | while read -r reference; do
  ctr --namespace=k8s.io images label "${reference}" io.cri-containerd.pinned=pinned >/dev/null
done
ctr --namespace=k8s.io images list -q
kill "${containerd_pid}"
wait "${containerd_pid}" || true
rm -f /etc/machine-id && touch /etc/machine-id
