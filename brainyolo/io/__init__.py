"""Reading and writing safely: the one error type, atomic output, checksums, the parameter-value
grammar, Gen1 event files."""
