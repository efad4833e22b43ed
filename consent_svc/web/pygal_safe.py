"""pygal, imported once, without the import hook it installs.

pygal appends a legacy finder to ``sys.meta_path`` (for its separately installed map plugins,
``pygal.maps.*``, which the console does not use); Python then warns about it on every import
that reaches the end of the path. It is taken out right after pygal is imported
(docs/adr/0013-console-charts.md). Import pygal through this module only.
"""

from __future__ import annotations

import sys

import pygal
from pygal.style import Style

sys.meta_path[:] = [f for f in sys.meta_path if getattr(type(f), "__module__", "") != "pygal"]

__all__ = ["Style", "pygal"]
