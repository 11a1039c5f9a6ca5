# Copied by `make setup` to .venv/etc/ipython/ipython_kernel_config.py, read by every kernel of the
# course's venv: a NameError from a cell run out of order says to run the cells above first.
c.InteractiveShellApp.extensions = ["helpers.core.kernel_hints"]  # noqa: F821 (c is IPython's config)
