"""Reports: figures (matplotlib) and the self-contained HTML report of the claims."""
