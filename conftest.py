"""pytest set-up for the notebooks (nbval).

stderr is left out of nbval's comparison: it carries progress bars and
warnings whose text depends on timing and library versions, never a verdict.
Everything a notebook concludes is printed to stdout or shown as a result.
"""

import os

os.environ.setdefault("COURSE_MODE", "quick")
os.environ.setdefault("COURSE_PROGRESS", "off")  # no bars in the notebooks' outputs (see helpers/core/progress.py)

try:
    from nbval.plugin import IPyNbCell
except ImportError:  # nbval not installed: nothing to adjust
    IPyNbCell = None


def _without_stderr(outputs):
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


if IPyNbCell is not None and not getattr(IPyNbCell.compare_outputs, "_course_patched", False):
    _compare = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return _compare(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    compare_outputs._course_patched = True
    IPyNbCell.compare_outputs = compare_outputs
