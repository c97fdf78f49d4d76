"""Image intake: spool the upload to disk, detect the format from its bytes, validate, convert."""
