"""The shared data standards as code: departments, elements, code tables, datasets, sharing agreements and
cross-department profiles (``standards/``), loaded and checked by :mod:`governance.standards.catalogue`."""
