"""The files people really have, each made for real in the test: CSVs from spreadsheets in any
encoding and separator, compressed and other tabular files, messy image folders, GTSRB, raw IDX."""

import bz2
import gzip
import io
import json
import lzma
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mlaas_kernel import data
from mlaas_kernel.data import DataError, IDXError
from mlaas_kernel.data._sources import _bundled

PRICES = "Name;Preis;Menge\nMüller;1.234,56;3\nSchäfer;7,5;4\nWeiß;12,0;5\n"


def nothing_stored(ws):
    root = ws / "datasets"
    return not root.exists() or list(root.iterdir()) == []


# --- CSV: encoding, separator, decimal mark ---------------------------------------------------

def test_latin1_semicolon_decimal_comma_reads_numbers_as_numbers(workspace, tmp_path):
    path = tmp_path / "preise.csv"
    path.write_bytes(PRICES.encode("latin-1"))
    ds = data.ingest(path, progress=False)
    table = ds.table()
    assert table["Name"].tolist() == ["Müller", "Schäfer", "Weiß"]
    assert table["Preis"].dtype == "float64" and table["Preis"].tolist() == [1234.56, 7.5, 12.0]
    assert table["Menge"].dtype == "int64"
    assert "read preise.csv as cp1252, separator ';', decimal ',', thousands '.'" in ds.summary()
    assert ds.manifest["read"]["csv"]["sep"] == ";" and ds.manifest["read"]["csv"]["decimal"] == ","


@pytest.mark.parametrize("encoding, detected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252"), ("utf-16", "utf-16")])
def test_encodings_are_detected(workspace, tmp_path, encoding, detected):
    path = tmp_path / "names.csv"
    path.write_bytes("city,price\nKöln,3 €\nMünchen,4 €\n".encode(encoding))
    ds = data.ingest(path, progress=False)
    assert list(ds.table().columns) == ["city", "price"]  # no BOM glued to the first name
    assert ds.table()["city"].tolist() == ["Köln", "München"] and ds.table()["price"].tolist() == ["3 €", "4 €"]
    assert f"as {detected}," in ds.summary()


@pytest.mark.parametrize("sep, shown", [(",", "','"), (";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_separators_are_detected(workspace, tmp_path, sep, shown):
    path = tmp_path / "t.csv"
    path.write_text(sep.join(["a", "b", "label"]) + "\n" + "\n".join(sep.join([str(i), f"{i}.5", "xy"[i % 2]]) for i in range(5)) + "\n")
    ds = data.ingest(path, progress=False)
    assert list(ds.table().columns) == ["a", "b", "label"] and ds.table()["b"].sum() == pytest.approx(12.5)
    assert f"separator {shown}, decimal '.'" in ds.summary()


def test_overrides_win_over_detection(workspace, tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(PRICES.encode("utf-8"))
    as_latin1 = data.ingest(path, name="o1", encoding="latin-1", progress=False)
    assert as_latin1.table()["Name"].iloc[0] == "MÃ¼ller" and "as latin-1 (given)" in as_latin1.summary()
    point = data.ingest(path, name="o2", decimal=".", progress=False)
    assert point.table()["Preis"].tolist() == ["1.234,56", "7,5", "12,0"] and "decimal '.' (given)" in point.summary()
    comma = data.ingest(path, name="o3", sep="comma", progress=False)
    assert list(comma.table().columns)[0] == "Name;Preis;Menge" and "separator ',' (given)" in comma.summary()
    with pytest.raises(DataError, match="separator 'ab': give one character"):
        data.ingest(path, name="o4", sep="ab", progress=False)
    with pytest.raises(DataError, match="encoding 'klingon' is not one Python knows"):
        data.ingest(path, name="o5", encoding="klingon", progress=False)


def test_a_cp1252_byte_after_the_first_megabyte(workspace, tmp_path):
    path = tmp_path / "long.csv"
    rows = "".join(f"{i};plain ascii name;{i},5\n" for i in range(60_000))  # 1.5 MB of ASCII
    path.write_bytes(("id;name;value\n" + rows + "60000;Café Müller;1,25\n").encode("cp1252"))
    ds = data.ingest(path, progress=False)
    table = ds.table()
    assert len(table) == 60_001 and table["name"].iloc[-1] == "Café Müller" and table["value"].iloc[-1] == 1.25
    assert "long.csv: not utf-8 past its first 1,048,576 bytes; read as cp1252" in ds.summary()


def test_compressed_json_lines(workspace, tmp_path):
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert data.ingest(tmp_path / "e.jsonl.gz", progress=False).table()["a"].tolist() == [1, 2]


def test_a_bad_row_is_named(workspace, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(DataError, match=r"ragged.csv: not a readable CSV file \(Error tokenizing data. C error: Expected 2 fields in line 4, saw 3"):
        data.ingest(path, progress=False)
    assert nothing_stored(workspace)


# --- compressed and other tabular files ------------------------------------------------------

FRAME = pd.DataFrame({"x": [1.5, 2.5, 3.5], "n": [1, 2, 3], "label": ["a", "b", "a"]})


def _zstd(raw: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(raw)


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress), (".zst", _zstd)])
def test_compressed_csv(workspace, tmp_path, suffix, compress):
    path = tmp_path / f"small.csv{suffix}"
    path.write_bytes(compress(FRAME.to_csv(index=False).encode()))
    ds = data.ingest(path, progress=False)
    assert ds.name == "small"
    pd.testing.assert_frame_equal(ds.table(), FRAME, check_dtype=False)
    path.write_bytes(compress(FRAME.to_csv(index=False).encode())[:-8])
    with pytest.raises(DataError, match=rf"small.csv{suffix}: the \w+ stream is truncated or corrupt"):
        data.ingest(path, name="broken", progress=False)


def test_compressed_csv_from_a_url(workspace, file_server):
    file_server.files["/exports/sales.csv.gz"] = gzip.compress("Monat;Umsatz\nJänner;1.200,50\nFeber;980,25\n".encode("cp1252"))
    ds = data.ingest(file_server.url + "/exports/sales.csv.gz", progress=False)
    assert ds.name == "sales" and ds.table()["Umsatz"].tolist() == [1200.5, 980.25] and ds.table()["Monat"].iloc[0] == "Jänner"
    assert ds.manifest["source_url"].endswith("/exports/sales.csv.gz") and ds.manifest["read"]["csv"]["encoding"] == "cp1252"


def test_zip_holding_one_csv_and_zips_that_do_not(workspace, tmp_path):
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as z:
        z.writestr("export/data.csv", FRAME.to_csv(index=False))
        z.writestr("__MACOSX/export/._data.csv", b"\x00\x05")
        z.writestr("export/README.txt", "not a table")
    ds = data.ingest(one, progress=False)
    pd.testing.assert_frame_equal(ds.table(), FRAME, check_dtype=False)
    assert ds.manifest["read"]["member"] == "export/data.csv"
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.csv", "x\n1\n")
        z.writestr("b.csv", "x\n2\n")
    with pytest.raises(DataError, match=r"two.zip: the zip holds 2 tables \(a.csv, b.csv\); expected exactly one"):
        data.ingest(two, progress=False)
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as z:
        z.writestr("photo.png", b"...")
    with pytest.raises(DataError, match=r"none.zip: the zip holds no table file \(it has: photo.png\)"):
        data.ingest(none, progress=False)
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(DataError, match="fake.zip: not a readable zip file"):
        data.ingest(tmp_path / "fake.zip", progress=False)
    assert [d.name for d in data.list_datasets()] == ["one"]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines(workspace, tmp_path, suffix):
    path = tmp_path / f"events{suffix}"
    path.write_text('{"x": 1.5, "user": {"name": "ana"}}\n\n{"x": 2, "user": {"name": "bob"}}\n')
    ds = data.ingest(path, progress=False)
    assert ds.table()["x"].tolist() == [1.5, 2.0] and ds.table()["user.name"].tolist() == ["ana", "bob"]
    path.write_text('{"x": 1, "tags": [1, "a"], "v": 1}\n{"x": 2, "tags": [], "v": "n/a"}\n')
    odd = data.ingest(path, name="odd", progress=False)
    assert odd.table()["tags"].tolist() == ['[1, "a"]', "[]"] and odd.table()["v"].tolist() == ["1", "n/a"]
    assert "column 'tags' holds values of mixed shapes: stored as JSON text" in odd.summary()
    path.write_text('{"x": 1}\n{"x": 2,}\n')
    with pytest.raises(DataError, match=rf"events{suffix}: line 2: not valid JSON"):
        data.ingest(path, name="bad", progress=False)
    path.write_text('{"x": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=rf"events{suffix}: line 2: expected a JSON object, got list"):
        data.ingest(path, name="bad", progress=False)


def test_excel_first_sheet_with_mixed_column(workspace, tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        FRAME.assign(code=[1, "A7", 3]).to_excel(writer, sheet_name="Messwerte", index=False)
        pd.DataFrame({"other": [1]}).to_excel(writer, sheet_name="Notes", index=False)
    ds = data.ingest(path, progress=False)
    table = ds.table()
    assert table["x"].dtype == "float64" and table["n"].dtype == "int64" and table["code"].tolist() == ["1", "A7", "3"]
    summary = ds.summary()
    assert "read sheet 'Messwerte', the first of 2: Messwerte, Notes" in summary and "column 'code' mixes int, str: stored as text" in summary
    (tmp_path / "broken.xlsx").write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="broken.xlsx: not a readable Excel .xlsx file"):
        data.ingest(tmp_path / "broken.xlsx", progress=False)


def test_csv_options_on_other_inputs_are_refused(workspace, tmp_path):
    FRAME.to_parquet(tmp_path / "f.parquet")
    with pytest.raises(DataError, match="f.parquet: --encoding, --sep and --decimal apply to CSV files, not parquet"):
        data.ingest(tmp_path / "f.parquet", sep=";", progress=False)
    with pytest.raises(DataError, match="dataset 'mnist': sep do not apply to a named dataset"):
        data.ingest("mnist", sep=";", progress=False)
    (tmp_path / "f.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match="f.csv: strict apply to image folders only"):
        data.ingest(tmp_path / "f.csv", strict=True, progress=False)


# --- image folders ---------------------------------------------------------------------------

FORMATS = ["png", "jpg", "bmp", "gif", "tiff", "webp", "ppm", "pgm"]


def _picture(seed: int, size=(10, 12), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode)


def test_every_common_image_format(workspace, tmp_path):
    root = tmp_path / "formats"
    for i, fmt in enumerate(FORMATS):
        (root / fmt).mkdir(parents=True)
        _picture(i, mode="L" if fmt == "pgm" else "RGB").save(root / fmt / f"img.{fmt}")
    ds = data.ingest(root, progress=False)
    assert ds.images().shape == (len(FORMATS), 12, 10, 3)
    assert sorted(ds.table()["path"]) == sorted(f"{f}/img.{f}" for f in FORMATS)
    lossless = ds.table().index[ds.table()["label"] == "ppm"][0]
    np.testing.assert_array_equal(ds.images()[lossless], np.asarray(_picture(FORMATS.index("ppm"))))
    assert ds.manifest["skipped"] == []


def _messy_folder(root):
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            _picture(i).save(root / cls / f"{i}.png")
    good = io.BytesIO()
    _picture(9).save(good, format="PNG")
    (root / "cat" / "truncated.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (root / "dog" / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no jpeg" * 10)
    (root / "dog" / "notes.txt").write_text("taken on a sunny day")
    (root / "dog" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "dog" / "more").mkdir()
    _picture(5).save(root / "dog" / "more" / "deep.png")


def test_unreadable_and_stray_files_are_skipped_and_listed(workspace, tmp_path):
    root = tmp_path / "pets"
    _messy_folder(root)
    ds = data.ingest(root, progress=False)
    assert len(ds) == 4 and ds.table()["path"].tolist() == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png"]
    skipped = {s["path"]: s["reason"] for s in ds.manifest["skipped"]}
    assert set(skipped) == {"cat/truncated.png", "dog/garbage.jpg", "dog/notes.txt", "dog/more/"}  # hidden files are not news
    assert skipped["dog/more/"] == "a folder inside a class folder (not read)"
    assert skipped["cat/truncated.png"].startswith("not a readable image (OSError")
    assert skipped["dog/garbage.jpg"].startswith("not a readable image (")
    assert skipped["dog/notes.txt"] == "not an image file (.txt)"
    summary = ds.summary()
    assert "skipped 4 file(s)" in summary and "cat/truncated.png: not a readable image" in summary and "dog/notes.txt: not an image file (.txt)" in summary


def test_strict_refuses_the_messy_folder_and_stores_nothing(workspace, tmp_path):
    root = tmp_path / "pets"
    _messy_folder(root)
    with pytest.raises(DataError, match=r"pets: 4 file\(s\) cannot be ingested \(strict\): cat/truncated.png: not a readable image.*dog/garbage.jpg: .*dog/more/: .*dog/notes.txt") as err:
        data.ingest(root, strict=True, progress=False)
    assert "cat/truncated.png" in str(err.value) and "\n" not in str(err.value)
    assert nothing_stored(workspace)


def test_a_folder_of_nothing_readable_is_refused(workspace, tmp_path):
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"junk: no readable images \(1 file\(s\) skipped: a/x.png: not a readable image"):
        data.ingest(tmp_path / "junk", progress=False)
    assert nothing_stored(workspace)


def _sign(size, roi):
    """A black picture with a white region of interest, as a GTSRB .ppm would frame a sign."""
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    x1, y1, x2, y2 = roi
    pixels[y1:y2, x1:x2] = 255
    return Image.fromarray(pixels)


def _gtsrb(root):
    """Two classes in GTSRB's training layout, signs of different sizes, one listed file missing."""
    rows = {0: [("00000_00000.ppm", (29, 30), (5, 6, 24, 25)), ("00000_00001.ppm", (40, 34), (5, 5, 35, 29))],
            1: [("00000_00000.ppm", (31, 31), (6, 5, 26, 26)), ("00001_00000.ppm", (25, 27), (5, 5, 20, 22))]}
    for class_id, signs in rows.items():
        folder = root / f"{class_id:05d}"
        folder.mkdir(parents=True)
        lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
        for name, size, roi in signs:
            _sign(size, roi).save(folder / name)
            lines.append(f"{name};{size[0]};{size[1]};{';'.join(map(str, roi))};{class_id}")
        if class_id == 1:
            lines.append("00002_00000.ppm;30;30;5;5;25;25;1")  # listed, not there
        (folder / f"GT-{class_id:05d}.csv").write_text("\n".join(lines) + "\n")
    return root


def test_gtsrb_layout_with_class_ids_and_roi_crop(workspace, tmp_path):
    root = _gtsrb(tmp_path / "GTSRB" / "Final_Training" / "Images")
    with pytest.raises(DataError, match="image is 40x34, others are 29x30; pass image_size"):
        data.ingest(root, progress=False)
    whole = data.ingest(root, name="gtsrb", image_size=(16, 16), progress=False)
    assert whole.table()["label"].tolist() == [0, 0, 1, 1] and whole.manifest["classes"] == [0, 1]
    assert whole.table()[["roi_x1", "roi_y1", "roi_x2", "roi_y2"]].iloc[0].tolist() == [5, 6, 24, 25]
    assert whole.images().min() == 0  # the black border is still there
    assert whole.manifest["skipped"] == [{"path": "00001/00002_00000.ppm", "reason": "listed in the folder's GT-*.csv but missing"}]
    cropped = data.ingest(root, name="gtsrb-roi", image_size=(16, 16), crop_roi=True, progress=False)
    assert cropped.images().shape == (4, 16, 16, 3) and cropped.images().min() == 255  # only the sign is left
    assert cropped.manifest["cropped_to_roi"] is True


def test_gtsrb_test_layout_and_bad_annotations(workspace, tmp_path):
    flat = tmp_path / "Final_Test"
    flat.mkdir()
    _sign((30, 30), (5, 5, 25, 25)).save(flat / "00000.ppm")
    _sign((30, 30), (5, 5, 25, 25)).save(flat / "00001.ppm")
    _sign((30, 30), (5, 5, 25, 25)).save(flat / "00002.ppm")
    (flat / "GT-final_test.csv").write_text("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
                                            "00000.ppm;30;30;5;5;25;25;14\n00001.ppm;30;30;5;5;25;25;x\n")
    ds = data.ingest(flat, progress=False)
    assert ds.table()["label"].tolist() == [14]
    reasons = {s["path"]: s["reason"] for s in ds.manifest["skipped"]}
    assert reasons["00001.ppm"].startswith("GT-final_test.csv line 3: not integers")
    assert reasons["00002.ppm"] == "not listed in the folder's GT-*.csv"
    (flat / "GT-final_test.csv").write_text("Filename,ClassId\n00000.ppm,14\n")
    with pytest.raises(DataError, match=r"GT-final_test.csv: no column Filename, ClassId \(GTSRB annotations are ';'-separated"):
        data.ingest(flat, name="flat2", progress=False)
    plain = tmp_path / "plain"
    (plain / "a").mkdir(parents=True)
    _picture(0).save(plain / "a" / "0.png")
    with pytest.raises(DataError, match=r"plain/a: crop_roi \(--crop-roi\) needs a GT-\*.csv"):
        data.ingest(plain, crop_roi=True, progress=False)


# --- raw IDX files ---------------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype("u1").tobytes()


def _idx_pair(folder, prefix, n, *, gz_labels=True, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 255, (n, 6, 5), dtype=np.uint8), rng.integers(0, 4, n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
    label_bytes = idx_bytes(labels)
    if gz_labels:
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(label_bytes))
    else:
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(label_bytes)
    return images, labels


@pytest.mark.parametrize("given", ["images", "labels"])
def test_idx_pair_from_either_file(workspace, tmp_path, given):
    images, labels = _idx_pair(tmp_path / "raw", "fashion", 7)
    path = tmp_path / "raw" / ("fashion-images-idx3-ubyte" if given == "images" else "fashion-labels-idx1-ubyte.gz")
    ds = data.ingest(path, progress=False)
    assert ds.name == "fashion" and ds.kind == "images"
    np.testing.assert_array_equal(ds.images(), images)
    assert ds.labels().tolist() == labels.tolist()
    assert [f["name"] for f in ds.manifest["files"]] == ["fashion-images-idx3-ubyte", "fashion-labels-idx1-ubyte.gz"]


def test_idx_folder_with_two_pairs_is_one_dataset_with_splits(workspace, tmp_path):
    _idx_pair(tmp_path / "digits", "train", 6, gz_labels=False, seed=1)
    _idx_pair(tmp_path / "digits", "t10k", 3, seed=2)
    ds = data.ingest(tmp_path / "digits", progress=False)
    assert ds.name == "digits" and len(ds) == 9
    assert ds.table()["split"].astype(str).tolist() == ["t10k"] * 3 + ["train"] * 6
    again = data.ingest(tmp_path / "digits", progress=False)
    assert again.reused


def test_the_bundled_mnist_files_by_path(workspace):
    ds = data.ingest(_bundled("mnist", "t10k-images-idx3-ubyte.gz"), name="t10k", progress=False)
    assert len(ds) == 10000 and ds.labels()[:5].tolist() == [7, 2, 1, 0, 4]


def test_idx_without_its_partner_or_with_a_wrong_magic(workspace, tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((2, 3, 3)))))
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte.gz: no labels file to pair it with \(looked for train-labels-idx1-ubyte\[.gz\] beside it\)"):
        data.ingest(folder / "train-images-idx3-ubyte.gz", progress=False)
    png = io.BytesIO()
    _picture(0).save(png, format="PNG")
    (folder / "train-labels-idx1-ubyte").write_bytes(png.getvalue())
    with pytest.raises(IDXError, match=r"train-labels-idx1-ubyte: bad magic number 0x89504e47 \(not an IDX file\)"):
        data.ingest(folder, progress=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(IDXError, match="train-images-idx3-ubyte.gz has 2 images but train-labels-idx1-ubyte has 3 labels"):
        data.ingest(folder, progress=False)
    assert nothing_stored(workspace)
