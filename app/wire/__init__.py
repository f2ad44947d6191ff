"""trio I/O for MMP: sockets that keep the 1,400-byte packet rule, and a message stream.

Shared by the server and the clients; all parsing lives in `app.protocol`.
"""
