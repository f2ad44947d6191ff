"""FFmpeg work: finding the binary, probing inputs, one argv builder per op, the runner."""
