"""Classic pcap files for the test and bench scripts (standard library only).

read_pcap(data) -> Pcap or None (None: not a classic pcap, e.g. pcapng).
A record cut short at the end of the data (a writer still appending, a
truncated file) ends the list; Pcap.truncated says so.
"""
import struct
from collections import namedtuple

MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\x4d\x3c\xb2\xa1": ("<", True),
          b"\xa1\xb2\xc3\xd4": (">", False), b"\xa1\xb2\x3c\x4d": (">", True)}

# header: the 24 file-header bytes; endian: "<" or ">"; nano: timestamps in ns;
# records: [Record]; truncated: the data ended inside a record
Pcap = namedtuple("Pcap", "header endian nano linktype snaplen records truncated")
# sec, frac (usec or nsec), caplen, wirelen, frame (the captured bytes)
Record = namedtuple("Record", "sec frac caplen wirelen frame")


def read_pcap(data):
    if len(data) < 24 or data[:4] not in MAGICS:
        return None
    endian, nano = MAGICS[data[:4]]
    snaplen, linktype = struct.unpack_from(endian + "II", data, 16)
    rec_hdr = struct.Struct(endian + "IIII")
    records, off, truncated = [], 24, False
    while off < len(data):
        if off + 16 > len(data):
            truncated = True
            break
        sec, frac, caplen, wirelen = rec_hdr.unpack_from(data, off)
        if off + 16 + caplen > len(data):
            truncated = True
            break
        records.append(Record(sec, frac, caplen, wirelen, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return Pcap(data[:24], endian, nano, linktype & 0x0FFFFFFF, snaplen, records, truncated)


def read_pcap_file(path):
    with open(path, "rb") as f:
        return read_pcap(f.read())
