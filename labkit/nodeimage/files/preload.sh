#!/bin/bash
# Runs once inside the node image being assembled: installs labkit's files, then imports
# every component image into containerd's k8s.io namespace so nodes never pull.
set -o errexit -o nounset -o pipefail
stage=/labkit-stage

install -m 0755 "${stage}"/bin/* /usr/bin/
install -D -m 0755 "${stage}/labkit-runc" /usr/local/sbin/labkit-runc
install -D -m 0755 "${stage}/labkit-entrypoint" /usr/local/bin/labkit-entrypoint
install -D -m 0755 "${stage}/cni/flannel" /opt/cni/bin/flannel
# Debian ships the reference CNI plugins in /usr/lib/cni; containerd and flannel look in /opt/cni/bin.
for plugin in /usr/lib/cni/*; do ln -sf "${plugin}" "/opt/cni/bin/$(basename "${plugin}")"; done
install -D -m 0644 "${stage}/kubelet.service" /etc/systemd/system/kubelet.service
install -D -m 0644 "${stage}/10-kubeadm.conf" /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
install -D -m 0644 "${stage}/containerd-config.toml" /etc/containerd/config.toml
install -D -m 0644 "${stage}/crictl.yaml" /etc/crictl.yaml
install -D -m 0644 "${stage}/default-cni.yaml" /kind/manifests/default-cni.yaml
install -D -m 0644 "${stage}/version" /kind/version
install -D -m 0644 "${stage}/images.txt" /kind/images.txt
mkdir -p /etc/systemd/system/multi-user.target.wants /etc/kubernetes/manifests /var/lib/kubelet \
  /etc/cni/net.d /etc/systemd/system/containerd.service.d
ln -sf /etc/systemd/system/kubelet.service /etc/systemd/system/multi-user.target.wants/kubelet.service
# containerd must own its cgroup subtree for the kubelet's systemd cgroup driver.
printf '[Service]\nDelegate=yes\n' > /etc/systemd/system/containerd.service.d/10-delegate.conf
# Units that make no sense in a container and slow its boot.
for unit in getty@tty1.service systemd-udevd.service systemd-udev-trigger.service \
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
