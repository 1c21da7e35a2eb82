"""Every spreadsheet format a rep has is read by the same detection, parsing and problem reporting
(issue 14): .xls and .ods saved by LibreOffice headless from the demo workbook (itself written from
the committed templates), .xlsb from calamine's own test data, and the files that look like a
spreadsheet but are not one, refused in one line that never quotes their content.

tests/data/calamine-issues.xlsb is ``tests/issues.xlsb`` of https://github.com/tafia/calamine
(MIT licence, commit 263762c): an .xlsb written by Excel, six small sheets of numbers and text.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import AS_OF, libreoffice_profile, write_rows

from processor.errors import UnusableInput
from processor.pipeline import analyse
from processor.read.workbook import read_input

DATA = Path(__file__).parent / "data"


def _convert(source: Path, fmt: str, out: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    out.mkdir(exist_ok=True)
    profile = libreoffice_profile()
    subprocess.run(
        [soffice, "--headless", "--norestore", profile, "--convert-to", fmt, "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return out / f"{source.stem}.{fmt}"


def _result_frames(path: Path) -> dict[str, list[pd.DataFrame]]:
    analysis = analyse(read_input(path), pd.Timestamp(AS_OF), source_name="same name")
    return {s.name: [b.frame.reset_index(drop=True) for b in s.blocks] for s in analysis.sheets}


@pytest.fixture(scope="module")
def xlsx_frames(demo_dir) -> dict[str, list[pd.DataFrame]]:
    """The result frames of the demo's 名單與跟進.xlsx (conftest's shared demo): made once for both formats."""
    return _result_frames(demo_dir / "名單與跟進.xlsx")


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt", ["xls", "ods"])
def test_the_same_table_saved_as_xls_or_ods_gives_the_same_result_sheets_as_the_xlsx(
    demo_dir, xlsx_frames, tmp_path, fmt
):
    source = demo_dir / "名單與跟進.xlsx"
    converted = _convert(source, fmt, tmp_path)
    assert read_input(converted)[0].source == fmt
    expected, got = xlsx_frames, _result_frames(converted)
    assert list(got) == list(expected)
    for name in expected:
        assert len(got[name]) == len(expected[name]), name
        for want, have in zip(expected[name], got[name]):
            pd.testing.assert_frame_equal(have, want, check_dtype=False, obj=f"{fmt} {name}")


@pytest.mark.libreoffice
def test_an_ods_is_scored_by_the_cli_and_its_copied_sheets_have_ids_masked(run_cli, demo_dir, tmp_path):
    converted = _convert(demo_dir / "貸款懶人包.xlsx", "ods", tmp_path)
    out = tmp_path / "r.xlsx"
    run_cli("score", converted, "-o", out, "--as-of", AS_OF)
    wb = openpyxl.load_workbook(out)
    assert "貸款檢核" in wb.sheetnames and "申請人" in wb.sheetnames
    texts = [str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r if v is not None]
    assert any("*****" in t for t in texts)
    assert not any(len(t) == 10 and t[0].isalpha() and t[1:].isdigit() for t in texts), "an unmasked ID was copied"


def test_an_xlsb_written_by_excel_goes_through_detection_and_its_headers_are_quoted_in_one_line(run_cli, tmp_path):
    path = DATA / "calamine-issues.xlsb"
    sheets = read_input(path)
    assert [s.source for s in sheets] == ["xlsb"] * 6
    assert sheets[1].grid.values.tolist() == [[1, "a"], [2, "b"], [3, "c"]]  # whole numbers read as 3, not 3.0
    result = run_cli("score", path, "-o", tmp_path / "out.xlsx", check_exit=2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "找不到可分析的工作表" in lines[0] and "不是 Excel" not in lines[0]


def _word_doc(path: Path) -> Path:
    """An OLE2 compound file whose directory names a WordDocument stream (as every .doc has)."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    entry = "WordDocument".encode("utf-16-le") + b"\x00\x00"
    path.write_bytes(header + entry.ljust(128, b"\x00") + b"\x00" * 2048)
    return path


@pytest.mark.parametrize(
    "name, content, words",
    [
        (
            "list.xls",
            "<html><body><table><tr><td>姓名</td><td>生日</td></tr><tr><td>王小明</td><td>1980/1/2</td></tr>"
            "</table></body></html>",
            "網頁（HTML）",
        ),
        (
            "list.xls",
            '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet>'
            "<Table><Row><Cell><Data>王小明</Data></Cell><Cell><Data>1980/1/2</Data></Cell></Row></Table>"
            "</Worksheet></Workbook>",
            "SpreadsheetML",
        ),
    ],
)
def test_html_and_spreadsheetml_exports_are_refused_by_what_they_are_without_echoing_them(
    tmp_path, name, content, words
):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnusableInput) as caught:
        read_input(path)
    text = str(caught.value)
    assert words in text and "\n" not in text
    assert "王小明" not in text and "1980" not in text


def test_a_word_document_named_xls_is_called_a_word_document_not_a_legacy_workbook(tmp_path):
    with pytest.raises(UnusableInput, match="Word 文件") as caught:
        read_input(_word_doc(tmp_path / "list.xls"))
    assert "97-2003" not in str(caught.value)


def test_an_xlsx_named_csv_is_read_as_the_workbook_it_is(tmp_path):
    path = write_rows(tmp_path / "book.xlsx", {"跟進": [["姓名", "日期", "方式"], ["王小明", "2024/1/2", "電話"]]})
    renamed = path.rename(tmp_path / "book.csv")
    assert read_input(renamed)[0].grid.values.tolist() == [["姓名", "日期", "方式"], ["王小明", "2024/1/2", "電話"]]


def test_a_csv_with_a_title_line_and_one_ragged_row_is_read_whole(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(
        "客戶名單 2024\n姓名,日期,方式\n王小明,2024/1/2,電話\n李小華,2024/1/3,Line,多一格\n", encoding="utf-8"
    )
    grid = read_input(path)[0].grid
    assert grid.shape == (4, 4)
    assert grid.iloc[3].tolist() == ["李小華", "2024/1/3", "Line", "多一格"]
    assert grid.iloc[0].tolist() == ["客戶名單 2024", None, None, None]


def test_a_gb18030_list_is_decoded_as_gb18030_and_a_big5_list_as_big5(tmp_path):
    rows = "姓名,手机,日期\n王小明,0912345678,2024/1/2\n"
    (tmp_path / "gb.csv").write_bytes(rows.encode("gb18030"))
    (tmp_path / "big5.csv").write_bytes("姓名,手機,日期\n王小明,0912345678,2024/1/2\n".encode("cp950"))
    assert read_input(tmp_path / "gb.csv")[0].grid.iat[0, 1] == "手机"
    assert read_input(tmp_path / "big5.csv")[0].grid.iat[0, 1] == "手機"


def test_a_symbolic_link_to_itself_is_not_found_in_one_line(run_cli, tmp_path):
    loop = tmp_path / "loop.xlsx"
    loop.symlink_to(loop)
    result = run_cli("score", loop, check_exit=2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "找不到檔案" in lines[0]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_is_accepted_before_or_after_the_command(run_cli, tmp_path, where):
    args = ["score", tmp_path / "missing.xlsx"]
    args = ["-v", *args] if where == "before" else [*args, "-v"]
    result = run_cli(*args, check_exit=2)
    assert "找不到檔案" in result.stderr and "usage" not in result.stderr


def test_an_xlsb_whose_only_value_sits_at_xfd1048576_is_refused_in_one_line(tmp_path):
    import zipfile

    source = DATA / "calamine-issues.xlsb"
    with zipfile.ZipFile(source) as zf:
        data = bytearray(zf.read("xl/worksheets/sheet4.bin"))  # sheet issue5: one number at A1
    # BrtBeginSheetData, then BrtRowHdr (type 0, 25 bytes, row index first) and BrtCellRk (type 2, column first)
    i = bytes(data).index(bytes.fromhex("9101 00 00 19 00000000"))
    data[i + 5 : i + 9] = (1_048_575).to_bytes(4, "little")
    cell_at = i + 5 + 25 + 2  # past the row record and the cell record's type and size
    assert data[cell_at - 2 : cell_at] == b"\x02\x0c"
    data[cell_at : cell_at + 4] = (16_383).to_bytes(4, "little")
    far = tmp_path / "far.xlsb"
    with zipfile.ZipFile(source) as zf, zipfile.ZipFile(far, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zf.infolist():
            out.writestr(info, bytes(data) if info.filename == "xl/worksheets/sheet4.bin" else zf.read(info))
    with pytest.raises(UnusableInput, match="XFD1048576") as caught:
        read_input(far)
    assert "issue5" in str(caught.value) and "\n" not in str(caught.value)


def test_a_strict_open_xml_workbook_is_scored_and_its_sheet_copied(run_cli, tmp_path):
    import zipfile

    from tests.crafted import row, write_xlsx

    plain = write_xlsx(
        tmp_path / "plain.xlsx",
        [row(1, ["姓名", "日期", "方式", "結果"]), row(2, ["王小明", "2024/5/1", "電話", "未接"])],
    )
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(plain) as zf, zipfile.ZipFile(strict, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zf.infolist():  # the namespaces Excel writes for "Strict Open XML Spreadsheet"
            out.writestr(
                info,
                zf.read(info)
                .replace(
                    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                    b"http://purl.oclc.org/ooxml/spreadsheetml/main",
                )
                .replace(
                    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
                    b"http://purl.oclc.org/ooxml/officeDocument/relationships",
                ),
            )
    run_cli("score", strict, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-28")
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert wb["Sheet1"]["A2"].value == "王小明"


def test_the_drop_folder_takes_every_format_the_reader_reads():
    from processor.read.workbook import SUPPORTED_SUFFIXES
    from processor.service.names import OK, SUPPORTED, classify

    assert SUPPORTED == SUPPORTED_SUFFIXES
    assert {classify(f"list{suffix.upper()}") for suffix in SUPPORTED_SUFFIXES} == {OK}


def test_a_refusal_quotes_a_few_short_header_cells_on_one_line(run_cli, tmp_path):
    path = tmp_path / "notes.csv"
    long_note = "這是一段很長的說明文字\n寫在第一列的儲存格裡，內容包含客戶的各種背景資料與備註"
    path.write_text(f'"{long_note}",品名,庫存,規格,顏色,尺寸,產地,廠商,備貨\nA,1,2,3,4,5,6,7,8\n', encoding="utf-8")
    result = run_cli("score", path, "-o", tmp_path / "out.xlsx", check_exit=2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "這是一段很長的說明文字 寫在第一…" in lines[0]
    assert "背景資料" not in lines[0] and "廠商" not in lines[0], "at most six short cells are quoted"


@pytest.mark.libreoffice
def test_merged_title_and_header_cells_of_an_ods_saved_by_libreoffice_are_filled_as_in_the_xlsx(tmp_path):
    from processor.read.parse import detect_and_parse

    source = tmp_path / "merged-headers.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "名單"
    for values in (
        ["我的名單（2024 下半年）", None, None, None, None],
        ["姓名", "信任等級", "D夢想", None, None],
        [None, None, "初期", "中期", "長期"],
        ["王小明", "B", "換車", "買房", "退休旅行"],
        ["陳美玲", "A", "進修", "創業", "環島"],
    ):
        ws.append(values)
    for ref in ("A1:E1", "C2:E2", "A2:A3", "B2:B3"):  # a title across the table, a parent over three columns
        ws.merge_cells(ref)
    wb.save(source)
    ods = _convert(source, "ods", tmp_path / "lo")
    want, got = read_input(source)[0].grid, read_input(ods)[0].grid
    assert got.iloc[:3].values.tolist() == [
        ["我的名單（2024 下半年）"] * 5,
        ["姓名", "信任等級", "D夢想", "D夢想", "D夢想"],
        ["姓名", "信任等級", "初期", "中期", "長期"],
    ]
    assert got.equals(want)
    [parsed], _ = detect_and_parse(read_input(ods), pd.Timestamp(AS_OF))
    assert parsed.frame["dream_long"].tolist() == ["退休旅行", "環島"]


def test_a_sheet_read_in_blocks_of_a_few_rows_holds_the_same_cells_as_one_read_in_one_block(tmp_path, monkeypatch):
    import datetime as dt

    from processor.read import workbook

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"] = "跟進紀錄"
    ws.merge_cells("C3:F3")  # a merged title: its value in each of its cells
    ws.append([])
    for j, header in enumerate(["姓名", "日期", "次數", "備註"], start=3):
        ws.cell(4, j, header)
    kinds = ["王小明", dt.datetime(2024, 5, 1), 3.0, 2.5, True, "", 12, "王小明", None, "有興趣"]
    for i in range(5, 45):  # every column mixes kinds differently; text repeats across blocks
        for j in range(3, 7):
            ws.cell(i, j, kinds[(i * j) % len(kinds)])
        ws.cell(i, 7, ["王小明", "有興趣", ""][i % 3])  # a column of text only
    path = tmp_path / "mixed.xlsx"
    wb.save(path)
    whole = read_input(path)[0].grid
    monkeypatch.setattr(workbook, "GRID_BLOCK_ROWS", 7)
    blocks = read_input(path)[0].grid
    assert whole.shape == blocks.shape == (44, 7)
    cells = lambda grid: [[(type(v), v) for v in grid.iloc[:, j]] for j in range(grid.shape[1])]  # noqa: E731
    assert cells(blocks) == cells(whole)
    assert list(blocks.iloc[2, 2:6]) == ["跟進紀錄"] * 4 and blocks.iloc[:2].isna().all().all()
    values = [v for j in range(2, 6) for v in blocks.iloc[4:, j]]
    assert "" not in values and 3 in values and 2.5 in values and 3.0 not in [v for v in values if type(v) is float]
    names = [v for v in blocks.iloc[4:, 6] if v == "王小明"]  # one shared object per distinct text, across blocks
    assert len(names) > 2 and all(v is names[0] for v in names) and blocks.iloc[4:, 6].isna().sum() == 14
