"""Files that appear whole or not at all (atomic_write.py): below both the wire layer and
the media layer, so uploads, results, keys, pins and a job's chunk manifest are all
written by one routine."""
