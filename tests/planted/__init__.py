"""Planted bugs and cheats, one module per assignment (``<assignment>.py``), loaded by path.

Each module defines ``BUGS`` (realistic mistakes, each an exact ``find``/``replace`` edit of one
solution cell, that must lose marks) and ``CHEATS`` (whole solution cells that call the reference
or a library's own implementation, which must earn no marks for that part). The grading trust
tests apply them to ``solutions/<assignment>/<assignment>.ipynb``.
"""
