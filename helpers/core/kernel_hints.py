"""An IPython extension for the course's kernel: say what to do when a cell runs out of order.

Loaded in every kernel of the course's venv (``make setup`` writes
``.venv/etc/ipython/ipython_kernel_config.py``, which IPython reads from
``sys.prefix``), so it works even when the learner's first click is on a
cell in the middle. A ``NameError`` then reads, under the usual traceback:
"name 'X' is not defined: this cell uses a name that an earlier cell defines.
Run the cells above first: Run > Run All Above Selected Cell." Nothing else
changes; an error the course teaches on purpose is not a NameError.
"""

from __future__ import annotations

ADVICE = ("this cell uses a name that an earlier cell defines. Run the cells above first: "
          "Run \u2192 Run All Above Selected Cell (or Kernel \u2192 Restart Kernel and Run All Cells).")


def explain(value: BaseException) -> BaseException:
    """``value`` (a NameError) with the advice added to its message, once."""
    text = str(value)
    if ADVICE not in text:
        value.args = (f"{text}: {ADVICE}",) + tuple(value.args[1:])
    return value


def _handler(shell, etype, value, tb, tb_offset=None):
    explain(value)
    stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    shell._showtraceback(etype, value, stb)
    return stb


def load_ipython_extension(ipython) -> None:
    """IPython calls this on ``%load_ext helpers.core.kernel_hints`` (or from the kernel config): a
    NameError then says to run the cells above first."""
    ipython.set_custom_exc((NameError,), _handler)


def unload_ipython_extension(ipython) -> None:
    """Undo ``load_ipython_extension``: NameErrors are shown as IPython shows them by default."""
    ipython.set_custom_exc((), None)
