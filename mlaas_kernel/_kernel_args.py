"""Arguments for the kernels papermill starts (``mlaas run``, pipeline steps).

ipykernel 7 warns on every start that a kernel on loopback TCP is not encrypted, a line before each
notebook's output that says nothing about the notebook; only the kernel application's own log is
raised to errors, the notebook's output and errors are untouched.
"""

KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
