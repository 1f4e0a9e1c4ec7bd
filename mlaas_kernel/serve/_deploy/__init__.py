"""Templates, the install script and the Kubernetes manifests behind :mod:`mlaas_kernel.serve.deploy`."""
