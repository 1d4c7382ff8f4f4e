#!/usr/bin/env python3
"""Splits a signed EFI variable update (.auth, EFI_VARIABLE_AUTHENTICATION_2)
for checking with openssl and efitools:

  sb-auth.py split FILE.auth VAR OUT_PREFIX

writes OUT_PREFIX.esl (the signature list), OUT_PREFIX.p7 (the signature as a
DER PKCS#7 ContentInfo) and OUT_PREFIX.signed (the bytes the UEFI
specification says were signed: the variable's name in UTF-16, its vendor
GUID, attributes, the timestamp, the list). Exits 1 naming what is malformed."""
import struct
import sys
import uuid

GLOBAL = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
IMAGE_SECURITY_DB = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
PKCS7_GUID = uuid.UUID("4aafd29d-68df-49ee-8aa9-347d375665a7")
# NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS
ATTRS = 0x27


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def fail(msg):
    print(f"sb-auth: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "split":
        fail("usage: sb-auth.py split FILE.auth VAR OUT_PREFIX")
    data = open(sys.argv[2], "rb").read()
    var, out = sys.argv[3], sys.argv[4]
    if len(data) < 40:
        fail("shorter than its header")
    time = data[:16]
    length, revision, ctype = struct.unpack_from("<IHH", data, 16)
    if revision != 0x0200 or ctype != 0x0EF1:
        fail(f"not a WIN_CERTIFICATE_UEFI_GUID (revision {revision:#x}, type {ctype:#x})")
    if uuid.UUID(bytes_le=data[24:40]) != PKCS7_GUID:
        fail("certificate type is not EFI_CERT_TYPE_PKCS7_GUID")
    if length < 24 or 16 + length > len(data):
        fail(f"certificate length {length} out of range")
    signed_data = data[40:16 + length]
    esl = data[16 + length:]
    if not esl:
        fail("no signature list after the signature")
    vendor = IMAGE_SECURITY_DB if var in ("db", "dbx") else GLOBAL
    # The UEFI signature is a bare SignedData; openssl wants it in a ContentInfo.
    oid = bytes.fromhex("06092a864886f70d010702")
    inner = b"\xa0" + der_len(len(signed_data)) + signed_data
    body = oid + inner
    p7 = b"\x30" + der_len(len(body)) + body
    signed = var.encode("utf-16-le") + vendor.bytes_le + struct.pack("<I", ATTRS) + time + esl
    open(out + ".esl", "wb").write(esl)
    open(out + ".p7", "wb").write(p7)
    open(out + ".signed", "wb").write(signed)


main()
