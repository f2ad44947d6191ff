"""Video Compressor Service: MMP protocol, trio server, FFmpeg media work, CLI and TUI."""
