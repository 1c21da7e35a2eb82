"""workbook.xlsm: reproducible, and checked with readers we did not write (oletools, olefile,
openpyxl, LibreOffice)."""

from __future__ import annotations

import importlib.metadata
import inspect
import io
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import olefile
import openpyxl
import pytest
from conftest import libreoffice_profile
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.olevba import VBA_Parser, decompress_stream

from addin import build, cfb, ovba, udfs, vba
from processor.read.schema import KINDS

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "workbook.xlsm"
XLWINGS_QUICKSTART = vba.XLWINGS_DIR / "quickstart_standalone.xlsm"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build.build(tmp_path_factory.mktemp("build") / "workbook.xlsm")


@pytest.fixture(scope="module")
def macros(built) -> dict[str, str]:
    """Module name → source, as olevba recovers it from the built workbook."""
    parser = VBA_Parser(str(built))
    try:
        return {vba_filename.rsplit(".", 1)[0]: code for _, _, vba_filename, code in parser.extract_macros()}
    finally:
        parser.close()


def _pins() -> dict[str, str]:
    """Distribution name → exact version pinned in pyproject.toml (None if not pinned with ==)."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    found = {}
    for spec in dependencies:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("_", "-")
        exact = re.fullmatch(r"[A-Za-z0-9_.\-]+==([\w.]+)", spec.replace(" ", ""))
        found[name] = exact.group(1) if exact else None
    return found


def test_a_fresh_build_is_byte_identical_to_the_committed_workbook(built):
    assert COMMITTED.exists(), f"workbook.xlsm is missing: run {build.REBUILD} and commit it"
    installed = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in build.BYTE_DEPENDENCIES)
    assert built.read_bytes() == COMMITTED.read_bytes(), (
        f"workbook.xlsm differs from a fresh build ({installed}). If you changed addin/, the schema or the "
        f"templates: run {build.REBUILD} and commit workbook.xlsm. If not, check that the versions above "
        "are the ones pinned in pyproject.toml (pip install -e .)"
    )


def test_every_package_the_workbook_bytes_depend_on_is_pinned_exactly_and_installed_at_its_pin():
    pins = _pins()
    for name in build.BYTE_DEPENDENCIES:
        assert pins.get(name), f"pyproject.toml must pin {name}==<version>: workbook.xlsm's bytes depend on it"
        assert importlib.metadata.version(name) == pins[name], (
            f"{name} {importlib.metadata.version(name)} is installed but {pins[name]} is pinned: pip install -e ."
        )


def test_the_embedded_xlwings_vba_module_is_the_version_pinned_in_pyproject(macros):
    version = _pins()["xlwings"]
    assert re.search(r"^'Version: (\S+)", macros["xlwings"], re.MULTILINE).group(1) == version
    assert f'Lib "xlwings64-{version}.dll"' in macros["xlwings"]  # the DLL pip installs beside python.exe


def test_olevba_recovers_every_module_source_exactly(built, macros):
    wb = openpyxl.load_workbook(built, keep_vba=True)
    expected = vba.project_modules([ws.sheet_properties.codeName for ws in wb.worksheets])
    assert list(macros) == [m.name for m in expected]
    for module in expected:
        assert macros[module.name] == module.source, module.name


def test_the_xlwings_module_is_the_one_shipped_with_the_installed_xlwings(macros):
    shipped = (vba.XLWINGS_DIR / "xlwings.bas").read_text(encoding="cp1252")
    assert macros["xlwings"] == shipped.replace("\r\n", "\n").replace("\n", "\r\n")
    import xlwings

    assert f"'Version: {xlwings.__version__}" in macros["xlwings"]


def _ribbon(built) -> ElementTree.Element:
    with zipfile.ZipFile(built) as package:
        rels = package.read("_rels/.rels").decode()
        target = re.search(r'Type="[^"]*/ui/extensibility" Target="([^"]+)"', rels).group(1)
        return ElementTree.fromstring(package.read(target))


def test_every_ribbon_action_names_a_vba_sub_taking_an_iribboncontrol(built, macros):
    actions = {el.get("onAction") for el in _ribbon(built).iter() if el.get("onAction")}
    assert actions == {vba.RIBBON_CALLBACK}
    code = "\n".join(macros.values())
    for action in actions:
        assert re.search(
            rf"^\s*(Public\s+)?Sub\s+{action}\s*\(\s*control\s+As\s+IRibbonControl\s*\)",
            code,
            re.MULTILINE | re.IGNORECASE,
        ), action


def test_the_ribbon_tab_has_the_groups_and_buttons_of_the_issue_and_a_template_per_sheet_kind(built):
    ns = "{http://schemas.microsoft.com/office/2006/01/customui}"
    tab = _ribbon(built).find(f".//{ns}tab")
    assert tab.get("label") == "精準名單"
    groups = {g.get("label"): [c.get("label") for c in g] for g in tab.findall(f"{ns}group")}
    assert groups["分析"] == ["客戶分群", "沉默排名", "購買機率", "全部執行"]
    assert groups["模型"] == ["訓練模型", "模型說明"]
    assert groups["資料"] == ["檢查資料", "插入範本工作表"]
    assert groups["共用資料夾"] == ["送出評分", "取回結果"]
    menu = tab.find(f".//{ns}menu")
    assert [b.get("id") for b in menu] == [f"template_{key}" for key in KINDS]
    assert [b.get("label") for b in menu] == [kind.label for kind in KINDS.values()]


def test_every_button_id_is_dispatched_by_python(built):
    from addin import ribbon

    ids = [el.get("id") for el in _ribbon(built).iter() if el.get("onAction")]
    assert ids and all(ribbon.handler_for(i) is not None for i in ids)


def test_every_embedded_udf_wrapper_matches_its_python_signature(macros):
    code = macros[vba.UDF_VBA_MODULE]
    wrappers = dict(re.findall(r"^Function (\w+)\(([^)]*)\)", code, re.MULTILINE))
    assert sorted(wrappers) == sorted(udfs.UDF_NAMES)
    for name, params in wrappers.items():
        python = list(inspect.signature(getattr(udfs, name)).parameters.values())
        vba_params = [p.strip() for p in params.split(",") if p.strip()]
        # xlwings fills its reserved "caller" argument itself; Excel never passes it
        expected = [
            ("Optional " if p.default is not inspect.Parameter.empty else "") + p.name
            for p in python
            if p.name != "caller"
        ]
        assert vba_params == expected, name
        call = re.search(rf'{name} = XLPy\.CallUDF\("([\w.]+)", "{name}", Array\(([^)]*)\), ThisWorkbook', code)
        assert call.group(1) == "addin.udfs"
        assert [a.strip() for a in call.group(2).split(",")] == [
            "Nothing" if p.name == "caller" else p.name for p in python
        ]


def test_the_package_declares_itself_macro_enabled_and_links_the_vba_project(built):
    with zipfile.ZipFile(built) as package:
        names = package.namelist()
        types = package.read("[Content_Types].xml").decode()
        rels = package.read("xl/_rels/workbook.xml.rels").decode()
        infos = package.infolist()
    assert names[0] == "[Content_Types].xml" and names[1:] == sorted(names[1:])
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types
    assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types
    assert 'relationships/vbaProject" Target="vbaProject.bin"' in rels


def test_the_config_sheet_points_xlwings_at_the_udf_module_and_code_names_match_vba(built, macros):
    wb = openpyxl.load_workbook(built, keep_vba=True)
    conf = wb[build.CONFIG_SHEET]
    settings_ = {conf.cell(r, 1).value: conf.cell(r, 2).value for r in range(1, conf.max_row + 1)}
    assert settings_["UDF Modules"] == "addin.udfs"
    assert {"DROP_FOLDER", "MODELS_DIR", "MODEL"} <= set(settings_)
    assert wb.code_name == "ThisWorkbook"
    assert {ws.sheet_properties.codeName for ws in wb.worksheets} <= set(macros)
    assert wb.properties.created.year == 2024


def test_the_project_stream_says_unprotected_no_password_and_visible(built):
    with zipfile.ZipFile(built) as package:
        ole = olefile.OleFileIO(io.BytesIO(package.read("xl/vbaProject.bin")))
    project = ole.openstream("PROJECT").read().decode("cp1252")
    values = dict(re.findall(r'^(\w+)="([^"]*)"', project, re.MULTILINE))
    key = sum(values["ID"].encode("ascii")) & 0xFF
    assert ovba.decrypt(values["CMG"]) == (key, b"\0\0\0\0")
    assert ovba.decrypt(values["DPB"]) == (key, b"\0")
    assert ovba.decrypt(values["GC"]) == (key, b"\xff")
    # version 0xFFFF, no performance cache: the header xlwings' own add-in ships with
    with zipfile.ZipFile(vba.XLWINGS_DIR / "addin" / "xlwings.xlam") as package:
        office = olefile.OleFileIO(io.BytesIO(package.read("xl/vbaProject.bin")))
    assert (
        ole.openstream("VBA/_VBA_PROJECT").read()
        == office.openstream("VBA/_VBA_PROJECT").read()[:7]
        == bytes.fromhex("cc61ffff000100")
    )


def test_our_decryption_reads_the_protection_values_office_wrote_in_the_xlwings_quickstart():
    with zipfile.ZipFile(XLWINGS_QUICKSTART) as package:
        ole = olefile.OleFileIO(io.BytesIO(package.read("xl/vbaProject.bin")))
    values = dict(re.findall(r'^(\w+)="([^"]*)"', ole.openstream("PROJECT").read().decode("cp1252"), re.MULTILINE))
    key = sum(values["ID"].encode("ascii")) & 0xFF
    assert ovba.decrypt(values["CMG"]) == (key, b"\0\0\0\0")
    assert ovba.decrypt(values["GC"]) == (key, b"\xff")
    assert ovba.encrypt(values["ID"], b"\0\0\0\0", seed=int(values["CMG"][:2], 16))[:6] == values["CMG"][:6]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=9000) | st.text(alphabet="Sub End ()\r\n'\"abcxyz0123", max_size=12000).map(str.encode))
def test_olevba_decompresses_whatever_we_compress(data):
    assert bytes(decompress_stream(bytearray(ovba.compress(data)))) == data


def test_compression_matches_the_spec_example_byte_for_byte_where_the_match_is_unambiguous():
    # [MS-OVBA] 3.2.1: no repeated bytes, so the only valid encoding is all literals
    assert ovba.compress(b"abcdefghijklmnopqrstuv.").hex() == (
        "0119b000616263646566676800696a6b6c6d6e6f70007172737475762e"
    )


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="ABCdef_012", min_size=1, max_size=20), st.binary(max_size=6000), min_size=1, max_size=40
    )
)
def test_olefile_reads_back_every_stream_of_a_compound_file_we_wrote(streams):
    paths = {("VBA", name): data for name, data in streams.items()}
    ole = olefile.OleFileIO(io.BytesIO(cfb.compound_file(paths)))
    for (storage, name), data in paths.items():
        assert ole.openstream(f"{storage}/{name}").read() == data


def test_a_non_ascii_vba_source_is_refused_rather_than_stored_garbled():
    with pytest.raises(UnicodeEncodeError):
        ovba.vba_project([ovba.Module("M", ovba.STANDARD, 'Attribute VB_Name = "M"\r\n\' 精準名單\r\n')])


@pytest.mark.libreoffice
def test_libreoffice_opens_the_workbook_renders_every_sheet_and_imports_every_vba_module(built, tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    profile = libreoffice_profile()
    for fmt in ("pdf", "ods"):
        subprocess.run(
            [soffice, "--headless", "--norestore", profile, "--convert-to", fmt, "--outdir", str(tmp_path), str(built)],
            check=True,
            capture_output=True,
            timeout=180,
        )
    pdf = (tmp_path / "workbook.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    wb = openpyxl.load_workbook(built, keep_vba=True)
    assert pages >= len(wb.worksheets)
    if shutil.which("pdftotext"):  # every sheet's first text (title or first header) is on a page
        text = re.sub(
            r"\s+",
            "",
            subprocess.run(
                ["pdftotext", str(tmp_path / "workbook.pdf"), "-"], capture_output=True, text=True, check=True
            ).stdout,
        )
        for ws in wb.worksheets:
            first = next(c.value for row in ws.iter_rows(max_row=3) for c in row if isinstance(c.value, str))
            assert re.sub(r"\s+", "", first) in text, ws.title
        for line in build.INTRO:  # the start page prints whole, not cut at the right page edge
            assert re.sub(r"\s+", "", line) in text, line
    with zipfile.ZipFile(tmp_path / "workbook.ods") as ods:
        basic = {Path(n).stem for n in ods.namelist() if n.startswith("Basic/VBAProject/") and n.endswith(".xml")}
        ribbon_module = ods.read("Basic/VBAProject/PrecisionListRibbon.xml").decode("utf-8")
    expected = {m.name for m in vba.project_modules([ws.sheet_properties.codeName for ws in wb.worksheets])}
    assert expected <= basic
    assert "Sub OnRibbonAction(control As IRibbonControl)" in ribbon_module


def test_no_vba_line_exceeds_the_editors_1023_character_limit(macros):
    for name, code in macros.items():
        assert max(map(len, code.split("\r\n"))) <= 1023, name


def _dir_record_ids(vba_project_bin: bytes) -> list[int]:
    ole = olefile.OleFileIO(io.BytesIO(vba_project_bin))
    data = bytes(decompress_stream(bytearray(ole.openstream("VBA/dir").read())))
    ids, i = [], 0
    while i < len(data):
        record, size = struct.unpack_from("<HI", data, i)
        ids.append(record)
        i += 6 + (6 if record == 0x0009 else size)  # PROJECTVERSION's size field is a constant 4
    return ids


def test_our_dir_stream_has_the_record_layout_office_wrote_in_xlwings_own_add_in(built):
    with zipfile.ZipFile(vba.XLWINGS_DIR / "addin" / "xlwings.xlam") as package:
        office = _dir_record_ids(package.read("xl/vbaProject.bin"))
    with zipfile.ZipFile(built) as package:
        ours = _dir_record_ids(package.read("xl/vbaProject.bin"))
    head = office.index(0x000F)
    assert ours[: ours.index(0x000F)] == office[:head]  # project information and the two references
    module = office[head + 2 : office.index(0x002B) + 1]
    assert module[0] == 0x0019 and module[-1] == 0x002B
    body = ours[ours.index(0x000F) + 2 : -1]
    per_module = [body[i : i + len(module)] for i in range(0, len(body), len(module))]
    assert all(m[:9] == module[:9] and m[9] in (0x0021, 0x0022) and m[10:] == module[10:] for m in per_module)
    assert ours[-1] == office[-1] == 0x0010


def test_every_ribbon_control_id_is_unique(built):
    ids = [el.get("id") for el in _ribbon(built).iter() if el.get("id")]
    assert len(ids) == len(set(ids))


def test_the_function_wizard_gets_each_docstring_and_argument_help_in_utf16(macros):
    code = macros[vba.UDF_VBA_MODULE]
    for name in udfs.UDF_NAMES:
        line = next(ln for ln in code.split("\r\n") if f'Macro:="{name}"' in ln)
        texts = [bytes.fromhex(h).decode("utf-16-be") for h in re.findall(r'FromUtf16Hex\("([0-9A-F]*)"\)', line)]
        args = [a for a, _ in vba.udf_signature(getattr(udfs, name))]
        assert texts == [inspect.getdoc(getattr(udfs, name)).splitlines()[0], udfs.CATEGORY] + [
            udfs.ARGUMENT_HELP[a] for a in args
        ]


def _config_rows(built) -> list[tuple]:
    """(key, value) from A1 down to the first blank key: the rows xlwings' GetConfigFromSheet reads."""
    rows = []
    for key, value in openpyxl.load_workbook(built)[build.CONFIG_SHEET].iter_rows(max_col=2, values_only=True):
        if key in (None, ""):
            break
        rows.append((key, value))
    return rows


def test_no_xlwings_setting_is_written_blank_so_the_reps_own_xlwings_conf_still_applies(built, macros):
    """xlwings.bas GetConfig returns a key found on the xlwings.conf sheet even when its value is
    blank, before it looks at %USERPROFILE%\\.xlwings\\xlwings.conf: a blank Interpreter_Win row
    would hide the rep's own interpreter (e.g. conda's)."""
    code = macros["xlwings"]
    assert re.search(
        r"If GetConfigFromSheet\(ThisWorkbook\)\.Exists\(configKey\) = True Then\s+"
        r"GetConfig = GetConfigFromSheet\(ThisWorkbook\)\.Item\(configKey\)",
        code,
    ), "the embedded xlwings.bas no longer reads the sheet first: re-check this rule"
    read_by_xlwings = set(re.findall(r'GetConfig\("([^"]+)"', code))
    assert {"INTERPRETER_WIN", "PYTHONPATH", "UDF MODULES", "CONDA PATH"} <= read_by_xlwings
    rows = _config_rows(built)
    assert [k for k, _ in rows] == [k for k, _ in build.CONFIG]  # contiguous from A1, as xlwings reads it
    for key, value in rows:
        if str(key).upper() in read_by_xlwings:  # GetConfigFromSheet keys on UCase(cell)
            assert value not in (None, ""), key
    intro = " ".join(str(c.value) for c in openpyxl.load_workbook(built)["說明"]["A"] if c.value)
    for key, _ in build.XLWINGS_OPTIONAL:
        assert key.upper() in read_by_xlwings and key in intro, key


XLWINGS_WRAPPERS = r"""
import io, sys, types
# xlwings.udfs imports these Windows-only COM modules at the top; generating the VBA wrappers
# never calls into them, so empty stand-ins suffice. Nothing of xlwings or addin is replaced.
for name in ("pythoncom", "pywintypes"):
    module = types.ModuleType(name)
    module.CoInitialize = lambda: None
    module.com_error = type("com_error", (Exception,), {})
    sys.modules[name] = module
client = types.ModuleType("win32com.client")
client.Dispatch = lambda *args, **kwargs: None
sys.modules["win32com"] = types.ModuleType("win32com")
sys.modules["win32com"].client = client
sys.modules["win32com.client"] = client
import xlwings, xlwings.udfs
# what xlwings/__init__.py binds on Windows when pywin32 is present: the real UDF decorators
xlwings.func, xlwings.arg, xlwings.ret = xlwings.udfs.xlfunc, xlwings.udfs.xlarg, xlwings.udfs.xlret
import addin.udfs
class Workbook:
    Name = "workbook.xlsm"
out = io.StringIO()
xlwings.udfs.generate_vba_wrapper("addin.udfs", addin.udfs, out, Workbook())
sys.stdout.write(out.getvalue())
"""


def _functions(code: str) -> dict[str, str]:
    code = code.replace("\r\n", "\n")
    return {m.group(1): m.group(0) for m in re.finditer(r"^Function (\w+)\(.*?^End Function", code, re.S | re.M)}


def test_the_embedded_wrappers_are_what_xlwings_own_import_functions_writes(macros, tmp_path):
    """xlwings' generate_vba_wrapper (what "Import Functions" runs on Windows), fed addin.udfs
    decorated by xlwings' real Windows decorators, in a fresh interpreter. Only the Windows COM
    modules xlwings.udfs imports (pythoncom, pywintypes, win32com) are empty stand-ins; the code
    under test — xlwings' generator, its decorators, addin.udfs and our embedded module — is real."""
    result = subprocess.run(
        [sys.executable, "-c", XLWINGS_WRAPPERS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    theirs, ours = _functions(result.stdout), _functions(macros[vba.UDF_VBA_MODULE])
    assert sorted(theirs) == sorted(udfs.UDF_NAMES)
    for name in udfs.UDF_NAMES:
        assert ours[name] == theirs[name], name
