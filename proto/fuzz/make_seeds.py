#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets into corpus/ (ignored by git).

Records for the receiver and sender targets are [len u16][flags u8][packet]; flag bit 0
fixes up the CRC32C, bit 1 forces the session id, bit 2 advances time, bit 3 (sender)
finishes the stream.  Run from proto/fuzz: python3 make_seeds.py
"""
import os
import struct


def hdr(t, path=0, session=0x1234_5678_9ABC_DEF0, pn=0, off=0, length=0, flags=0):
    return struct.pack(">HBBBBHQQQHHIII", 0x5354, 1, t, flags, 0, path, session, pn, off, length, 0, 0, 0, 0)


def rec(pkt, flags=3):
    return struct.pack(">H", len(pkt)) + bytes([flags]) + pkt


data = [hdr(3, pn=i, off=i * 1024, length=1024) + bytes([i]) * 1024 for i in range(3)]
ping = hdr(8, pn=5, flags=1)
fin = hdr(5, length=48) + struct.pack(">QB7x", 3072, 1) + bytes(32)
ack = hdr(4, length=36) + struct.pack(">QIHHQQI", 3, 0, 0, 0, 0, 1 << 20, 3)
reset = hdr(7, length=16) + struct.pack(">H6xQ", 2, 0)
for d in ("receiver", "sender", "header"):
    os.makedirs(f"corpus/{d}", exist_ok=True)
open("corpus/receiver/seed1", "wb").write(b"".join(rec(p) for p in data + [ping, fin]))
open("corpus/receiver/seed2", "wb").write(rec(data[2]) + rec(data[0], 7) + rec(reset))
s = 0x0FED_CBA9_8765_4321
ack2 = hdr(4, session=s, length=44) + struct.pack(">QIHHQQIII", 9, 10, 1, 0, 512, 1 << 20, 2, 1, 3)
ack3 = hdr(4, session=s, path=1, length=36) + struct.pack(">QIHHQQI", 0, 0, 0, 0, 1024, 1 << 20, 0)
open("corpus/sender/seed1", "wb").write(rec(ack2) + rec(ack3, 7))
fin_ack = hdr(6, session=s, length=16) + bytes(16)
open("corpus/sender/seed2", "wb").write(rec(fin_ack, 11) + rec(hdr(7, session=s, length=16) + struct.pack(">H6xQ", 1, 0)))
for i, p in enumerate(data[:1] + [ping, fin, ack, reset]):
    open(f"corpus/header/seed{i}", "wb").write(p)
