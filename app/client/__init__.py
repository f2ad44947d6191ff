"""The trio client library for MMP: connections, requests, answers, keys, raw uploads."""
