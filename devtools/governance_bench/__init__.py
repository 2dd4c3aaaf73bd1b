"""``make bench``: the pipeline against the naive pandas + GX + ``to_sql`` path and a bare ``COPY``."""
