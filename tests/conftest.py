"""Shared by the tests here and under tests/checks.

pytest imports a conftest that is outside any package with its folder put first on
sys.path; this one is why tests/checks can import kubeadm_output from this folder.
"""
