"""s1 curate: the s1K data pipeline as resumable stages (collect, decontaminate, traces, featurize, select).

    s1 curate init curate.yaml && s1 curate run curate.yaml

Each stage is a function here and a subcommand of `s1 curate`; each streams rows from a .jsonl /
.parquet file to another, and resumes when run again. `pipeline.run` chains them from a YAML config.
"""



class CurateError(Exception):
    """Something the user can fix (a bad row, a missing file or column, an unknown task); one-line message."""


__all__ = ["CurateError"]
