"""A writer of VBA projects ([MS-OVBA]) as source-only ``vbaProject.bin`` files.

Why not the ``ms-ovba`` package (0.0.1, checked 2026-11): given xlwings' 46,514-character
VBA module it writes a project from which olevba recovers 40,578 characters of garbled text
(the first difference at character 590), names modules after their file rather than their
``VB_Name``, and leaves dir.bin/project.bin/fatChain.bin in the current directory. This module
implements the parts of the spec a source-only project needs:

* §2.4.1 compression (the RLE/LZ77 "CompressedContainer" every VBA stream uses);
* §2.3.4.2 the ``dir`` stream (project information, references, module records);
* §2.3.4.1 the ``_VBA_PROJECT`` stream with version 0xFFFF and no performance cache, which
  tells Office to compile the project from source on open (byte for byte the header of the
  project in xlwings' own xlwings.xlam, which Excel opens);
* §2.3.4.3 module streams holding only compressed source (MODULEOFFSET 0, no p-code);
* §2.3.1 the ``PROJECT`` stream (with CMG/DPB/GC "unprotected, no password, visible"
  encrypted by §2.4.3) and §2.3.3 ``PROJECTwm``;
* the compound file container ([MS-CFB], :mod:`addin.cfb`).

Everything is deterministic: the project GUID is derived from the project name and the
encryption seed is fixed, so the same modules give byte-identical output.

    >>> blob = vba_project([Module("Hello", STANDARD, 'Sub Hi()\\r\\nEnd Sub\\r\\n')])
    >>> blob[:4].hex()
    'd0cf11e0'
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from .cfb import compound_file

STANDARD, CLASS, DOCUMENT = "standard", "class", "document"
CODEPAGE = 1252
LCID = 0x0409

#: registered type libraries an Excel project references: OLE Automation and the Office
#: object library (IRibbonControl lives there); Office resolves them by GUID and version
REFERENCES = (
    ("stdole", r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation"),
    (
        "Office",
        r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#C:\Program Files\Common Files\Microsoft Shared"
        r"\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library",
    ),
)

_EXCEL_BASES = {
    "workbook": "0{00020819-0000-0000-C000-000000000046}",
    "worksheet": "0{00020820-0000-0000-C000-000000000046}",
}
_CLASS_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"


@dataclass(frozen=True)
class Module:
    """One VBA module: its name, kind (standard / class / document) and source code.

    ``source`` is the code as the VBA editor stores it: starting with the ``Attribute VB_Name``
    line, CRLF line ends (use :func:`from_bas`, :func:`from_cls` or :func:`document_module`).
    """

    name: str
    kind: str
    source: str


# ---------------------------------------------------------------------------------------------
# §2.4.1 compression


def compress(data: bytes) -> bytes:
    """[MS-OVBA] 2.4.1.3.1 CompressedContainer of ``data``.

    Greedy LZ77 within each 4,096-byte chunk, matches found through a hash of their first
    three bytes (up to 64 candidates, nearest first), copy tokens sized by §2.4.1.3.19.3.

    >>> compress(b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa").hex()[:8]
    '012fb000'
    """
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        out += _compress_chunk(data[start : start + 4096])
    return bytes(out)


def _copy_token_help(difference: int) -> tuple[int, int]:
    """(bit_count, maximum_length) for a copy token at ``difference`` bytes into the chunk."""
    bit_count = max((difference - 1).bit_length(), 4)
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(chunk: bytes) -> bytes:
    body = bytearray()
    heads: dict[bytes, list[int]] = {}
    pos, n = 0, len(chunk)
    while pos < n:
        flag_at = len(body)
        body.append(0)
        flags = 0
        for bit in range(8):
            if pos >= n:
                break
            length, offset = 0, 0
            if pos > 0 and pos + 2 < n:
                bit_count, max_length = _copy_token_help(pos)
                limit = min(max_length, n - pos)
                for candidate in reversed(heads.get(chunk[pos : pos + 3], [])[-64:]):
                    size = 3
                    while size < limit and chunk[candidate + size] == chunk[pos + size]:
                        size += 1
                    if size > length:
                        length, offset = size, pos - candidate
                        if size == limit:
                            break
            if length >= 3:
                token = ((offset - 1) << (16 - bit_count)) | (length - 3)
                body += struct.pack("<H", token)
                flags |= 1 << bit
                step = length
            else:
                body.append(chunk[pos])
                step = 1
            for p in range(pos, pos + step):
                if p + 3 <= n:
                    heads.setdefault(chunk[p : p + 3], []).append(p)
            pos += step
        body[flag_at] = flags
    if len(body) > 4096:  # incompressible: store the chunk raw (only legal for a full chunk)
        if len(chunk) != 4096:
            raise ValueError("a short incompressible chunk cannot be stored raw")
        return struct.pack("<H", 0x3000 | 4095) + chunk
    return struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + bytes(body)


# ---------------------------------------------------------------------------------------------
# §2.4.3 data encryption (the PROJECT stream's CMG, DPB and GC values)


def encrypt(project_id: str, data: bytes, seed: int = 0x55) -> str:
    """[MS-OVBA] 2.4.3.2 encryption, as upper-case hex. ``seed`` is fixed for reproducibility;
    the ignored bytes repeat the seed, as the VBA editor itself writes them."""
    version = 2
    proj_key = sum(project_id.encode("ascii")) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ proj_key])
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, seed ^ proj_key, seed ^ version
    ignored = [seed] * ((seed & 6) // 2)
    for byte in [*ignored, *struct.pack("<I", len(data)), *data]:
        enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, enc, byte
    return out.hex().upper()


def decrypt(hex_text: str) -> tuple[int, bytes]:
    """[MS-OVBA] 2.4.3.3 decryption: (project key, data). Used to check Office-written values."""
    buf = bytes.fromhex(hex_text)
    seed, version_enc, proj_key_enc = buf[0], buf[1], buf[2]
    proj_key = seed ^ proj_key_enc
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, proj_key_enc, version_enc
    plain = bytearray()
    for enc in buf[3:]:
        byte = enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        plain.append(byte)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, enc, byte
    rest = plain[(seed & 6) // 2 :]
    length = struct.unpack("<I", rest[:4])[0]
    if length != len(rest) - 4:
        raise ValueError("encrypted length does not match its data")
    return proj_key, bytes(rest[4:])


# ---------------------------------------------------------------------------------------------
# Module sources as the VBA editor stores them


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def from_bas(text: str) -> Module:
    """A standard module from an exported .bas file (``Attribute VB_Name = "..."`` first)."""
    text = _crlf(text)
    name = _attribute(text, "VB_Name")
    return Module(name, STANDARD, text)


def from_cls(text: str) -> Module:
    """A class module from an exported .cls file, stored as the editor's Import stores it:
    the VERSION/BEGIN…END header dropped, VB_Base and the editor's default attributes added."""
    lines = _crlf(text).split("\r\n")
    if lines and lines[0].startswith("VERSION"):
        end = lines.index("END")
        lines = lines[end + 1 :]
    attrs = [ln for ln in lines if ln.startswith("Attribute VB_")]
    body = lines[len(attrs) :]
    given = {ln.split("=")[0].split()[1]: ln for ln in attrs}
    name = given["VB_Name"].split("=", 1)[1].strip().strip('"')
    order = [
        "VB_Name",
        "VB_Base",
        "VB_GlobalNameSpace",
        "VB_Creatable",
        "VB_PredeclaredId",
        "VB_Exposed",
        "VB_TemplateDerived",
        "VB_Customizable",
    ]
    defaults = {
        "VB_Base": f'Attribute VB_Base = "{_CLASS_BASE}"',
        "VB_TemplateDerived": "Attribute VB_TemplateDerived = False",
        "VB_Customizable": "Attribute VB_Customizable = False",
    }
    head = [given.get(key, defaults.get(key)) for key in order]
    extra = [ln for key, ln in given.items() if key not in order]
    return Module(name, CLASS, "\r\n".join([h for h in head if h] + extra + body))


def document_module(name: str, host: str, code: str = "") -> Module:
    """The code-behind module of the workbook (``host="workbook"``) or of one worksheet."""
    attrs = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{_EXCEL_BASES[host]}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return Module(name, DOCUMENT, "\r\n".join(attrs) + "\r\n" + _crlf(code))


def _attribute(text: str, key: str) -> str:
    for line in text.split("\r\n"):
        if line.startswith(f"Attribute {key} "):
            return line.split("=", 1)[1].strip().strip('"')
    raise ValueError(f"module source has no Attribute {key} line")


# ---------------------------------------------------------------------------------------------
# §2.3.4.2 dir stream, §2.3.1 PROJECT, §2.3.3 PROJECTwm


def _mbcs(text: str) -> bytes:
    return text.encode(f"cp{CODEPAGE}")


def _record(record_id: int, data: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(data)) + data


def _dir_stream(project_name: str, modules: list[Module]) -> bytes:
    out = bytearray()
    out += _record(0x0001, struct.pack("<I", 1))  # PROJECTSYSKIND: 32-bit Windows
    out += _record(0x0002, struct.pack("<I", LCID))  # PROJECTLCID
    out += _record(0x0014, struct.pack("<I", LCID))  # PROJECTLCIDINVOKE
    out += _record(0x0003, struct.pack("<H", CODEPAGE))  # PROJECTCODEPAGE
    out += _record(0x0004, _mbcs(project_name))  # PROJECTNAME
    out += _record(0x0005, b"") + _record(0x0040, b"")  # PROJECTDOCSTRING (+ unicode)
    out += _record(0x0006, b"") + _record(0x003D, b"")  # PROJECTHELPFILEPATH (+ second copy)
    out += _record(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # PROJECTVERSION (Reserved=4, major, minor)
    out += _record(0x000C, b"") + _record(0x003C, b"")  # PROJECTCONSTANTS (+ unicode)
    for name, libid in REFERENCES:
        out += _record(0x0016, _mbcs(name)) + _record(0x003E, name.encode("utf-16-le"))  # REFERENCENAME
        lib = _mbcs(libid)
        out += _record(0x000D, struct.pack("<I", len(lib)) + lib + struct.pack("<IH", 0, 0))  # REFERENCEREGISTERED
    out += _record(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module in modules:
        out += _record(0x0019, _mbcs(module.name))  # MODULENAME
        out += _record(0x0047, module.name.encode("utf-16-le"))  # MODULENAMEUNICODE
        out += _record(0x001A, _mbcs(module.name)) + _record(0x0032, module.name.encode("utf-16-le"))  # STREAMNAME
        out += _record(0x001C, b"") + _record(0x0048, b"")  # MODULEDOCSTRING (+ unicode)
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts at 0, no p-code
        out += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += _record(0x0021 if module.kind == STANDARD else 0x0022, b"")  # MODULETYPE
        out += _record(0x002B, b"")  # module Terminator
    out += _record(0x0010, b"")  # dir Terminator (the Reserved 0x00000000 is its size field)
    return bytes(out)


def project_id(project_name: str) -> str:
    """A stable project GUID (the same name always gives the same ID)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"precision-list:vba:{project_name}")).upper() + "}"


def _project_stream(project_name: str, modules: list[Module], pid: str) -> bytes:
    lines = [f'ID="{pid}"']
    for m in modules:
        lines.append(
            {DOCUMENT: f"Document={m.name}/&H00000000", CLASS: f"Class={m.name}", STANDARD: f"Module={m.name}"}[m.kind]
        )
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{encrypt(pid, struct.pack("<I", 0))}"',  # not protected
        f'DPB="{encrypt(pid, bytes([0]))}"',  # no password
        f'GC="{encrypt(pid, bytes([0xFF]))}"',  # visible
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
        "[Workspace]",
    ]
    lines += [f"{m.name}=0, 0, 0, 0, C" for m in modules]
    return _mbcs("\r\n".join(lines) + "\r\n")


def _project_wm(modules: list[Module]) -> bytes:
    return b"".join(_mbcs(m.name) + b"\0" + m.name.encode("utf-16-le") + b"\0\0" for m in modules) + b"\0\0"


def vba_project(modules: list[Module], project_name: str = "VBAProject") -> bytes:
    """The bytes of a source-only ``vbaProject.bin`` holding ``modules`` (in that order)."""
    names = [m.name for m in modules]
    if len(set(n.upper() for n in names)) != len(names):
        raise ValueError(f"duplicate VBA module names: {names}")
    pid = project_id(project_name)
    streams: dict[tuple[str, ...], bytes] = {
        ("PROJECT",): _project_stream(project_name, modules, pid),
        ("PROJECTwm",): _project_wm(modules),
        ("VBA", "_VBA_PROJECT"): struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0001),
        ("VBA", "dir"): compress(_dir_stream(project_name, modules)),
    }
    for m in modules:
        streams[("VBA", m.name)] = compress(_mbcs(m.source))
    return compound_file(streams)
