"""The text type every department column is read, validated, masked and published in."""

import pandas as pd

TEXT = pd.StringDtype("pyarrow")


def as_text(values: pd.Series) -> pd.Series:
    """The column as Arrow-backed text with pd.NA for nulls (the dtype every masked column is published in)."""
    return values.astype(TEXT)
