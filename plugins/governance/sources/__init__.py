"""Pull a department's drop (CSV, Excel or a departmental database) into text columns."""

from governance.sources.errors import NoDrop, SourceError
from governance.sources.pull import SOURCE_FILE, SOURCE_LINE, pull_dataset

__all__ = ["SOURCE_FILE", "SOURCE_LINE", "NoDrop", "SourceError", "pull_dataset"]
