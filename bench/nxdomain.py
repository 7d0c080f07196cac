#!/usr/bin/env python3
"""A DNS stub for compare.sh's private network namespace: answers every query
on 127.0.0.1:53 (UDP) at once with NXDOMAIN, so servers that look up client
host names (ircd-hybrid waits 12 s for a resolver that never answers) go on
straight away, and nothing is asked of a real resolver."""
import socket

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
while True:
    query, peer = sock.recvfrom(4096)
    if len(query) < 12:
        continue
    # Same id, QR=1, same opcode and RD, RA=1, RCODE=3; the question is echoed.
    flags = 0x8000 | (query[2] & 0x79) << 8 | 0x80 | 3
    header = query[:2] + flags.to_bytes(2, "big") + query[4:6] + bytes(6)
    sock.sendto(header + query[12:], peer)
