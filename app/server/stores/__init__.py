"""Where a server keeps its state: job stores (SQLite, PostgreSQL) and blob stores (a
local directory, S3). Each kind is one small interface with two backends, chosen by
configuration (docs/scale.md): one node needs nothing installed, a cluster shares both."""
