"""De-identification before publishing (GB/T 37964): one function per masking rule, applied column by column.

``mask_frame`` is the entry point for pipelines. The keys it needs come from :mod:`governance.keys`; the
last check on every outgoing column, the leak guard, is :mod:`governance.redaction.leak_guard`.
"""

from governance.masking.frame import MaskingError, MaskResult, mask_column, mask_frame
from governance.masking.rules import (
    COMPOUND_SURNAMES,
    generalize_date,
    generalize_district,
    generalize_division,
    generalize_range,
    partial,
)

__all__ = [
    "COMPOUND_SURNAMES",
    "MaskResult",
    "MaskingError",
    "generalize_date",
    "generalize_district",
    "generalize_division",
    "generalize_range",
    "mask_column",
    "mask_frame",
    "partial",
]
