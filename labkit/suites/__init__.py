"""The upstream suites, run offline against a lab: kubeadm's e2e suite (e2e_kubeadm) and
the Conformance specs of the e2e suite, with their binaries built here from the release's
own Go module (`binaries`), run by ginkgo's CLI (`run`) and read from ginkgo's report
(`report`).
"""
