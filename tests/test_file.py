"""GateFile and StructuredDataset: properties, persist, JSON form, identity, validation."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from gatewidgets.errors import SignalTypeError
from gatewidgets.types import GateType
from gatewidgets.types.file import FlyteFile, GateFile
from gatewidgets.types.structured import StructuredDataset as ReExported
from gatewidgets.types.structured.structured_dataset import StructuredDataset


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    p = tmp_path / "receipt.pdf"
    p.write_bytes(b"%PDF fake receipt")
    return p


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_properties(receipt: Path):
    f = GateFile(receipt)
    assert FlyteFile is GateFile and ReExported is StructuredDataset
    assert f.path == str(receipt) and os.fspath(f) == str(receipt)
    assert f.name == "receipt.pdf"
    assert f.size == len(b"%PDF fake receipt")
    assert f.sha256 == sha(b"%PDF fake receipt")
    assert f.uri == str(receipt)
    with f.open() as fh:
        assert fh.read() == b"%PDF fake receipt"
    assert GateFile(receipt, name="r.pdf").name == "r.pdf"


def test_file_uri(receipt: Path):
    f = GateFile(receipt.as_uri())
    assert f.path == str(receipt) and f.name == "receipt.pdf"
    assert f.open().read() == b"%PDF fake receipt"


def test_remote_uri_without_fsspec():
    f = GateFile("s3://bucket/dir/data.csv")
    assert f.name == "data.csv" and f.size is None and f.sha256 is None and not f.is_local
    try:
        import fsspec  # noqa: F401
    except ImportError:
        with pytest.raises(OSError, match="fsspec"):
            f.open()


def test_missing_file_cannot_be_read(tmp_path: Path):
    f = GateFile(tmp_path / "gone.txt")
    with pytest.raises(SignalTypeError, match="cannot be read"):
        f.sha256
    with pytest.raises(SignalTypeError, match="cannot be read"):
        f.persist(tmp_path / "store")
    for g in (GateType.of(GateFile), GateType.from_record(GateType.of(GateFile).to_record())):
        with pytest.raises(SignalTypeError, match="cannot be read"):
            g.validate(f)
        with pytest.raises(SignalTypeError, match="cannot be read"):
            g.parse_text(str(tmp_path / "gone.txt"))


def test_persist_content_addressed_and_idempotent(receipt: Path, tmp_path: Path):
    store = tmp_path / "store"
    digest = sha(b"%PDF fake receipt")
    copy = GateFile(receipt).persist(store)
    assert Path(copy.path) == store / digest[:2] / digest / "receipt.pdf"
    assert copy.sha256 == digest and copy.name == "receipt.pdf"
    mtime = os.stat(copy.path).st_mtime_ns
    again = GateFile(receipt).persist(store)
    assert again.path == copy.path and os.stat(copy.path).st_mtime_ns == mtime
    assert [p.name for p in (store / digest[:2] / digest).iterdir()] == ["receipt.pdf"]  # no temp left
    receipt.unlink()
    assert Path(copy.path).read_bytes() == b"%PDF fake receipt"
    assert GateFile.from_json(copy.to_json()).open().read() == b"%PDF fake receipt"


def test_equality_and_identity_by_content(tmp_path: Path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_text("same")
    b.write_text("same")
    c.write_text("other")
    assert GateFile(a) == GateFile(b) and hash(GateFile(a)) == hash(GateFile(b))
    assert GateFile(a) != GateFile(c)
    for g in (GateType.of(GateFile), GateType.from_record(GateType.of(GateFile).to_record())):
        assert g.identity(g.validate(GateFile(a))) == g.identity(g.validate(str(b)))
        assert g.identity(g.validate(a)) != g.identity(g.validate(c))
    nested = GateType.of(dict[str, list[GateFile]])
    assert nested.identity(nested.validate({"k": [a]})) == nested.identity(nested.validate({"k": [b]}))


def test_json_form(receipt: Path):
    f = GateFile(receipt)
    data = f.to_json()
    assert data == {"path": str(receipt), "name": "receipt.pdf", "size": 17, "sha256": sha(b"%PDF fake receipt")}
    back = GateFile.from_json(json.loads(json.dumps(data)))
    assert back == f and back.name == "receipt.pdf"
    with pytest.raises(SignalTypeError):
        GateFile.from_json({"name": "x"})


@pytest.mark.parametrize("mode", ["live", "detached"])
def test_gatefile_signal(mode: str, receipt: Path):
    g = GateType.of(GateFile)
    g = g if mode == "live" else GateType.from_record(g.to_record())
    assert g.is_file
    expected = GateFile(receipt).to_json()
    assert g.validate(GateFile(receipt)) == expected
    assert g.validate(str(receipt)) == expected
    assert g.validate(receipt) == expected
    assert g.parse_text(f"  {receipt}  ") == expected
    assert g.validate_json(expected) == expected
    back = g.to_python(expected)
    assert isinstance(back, GateFile) and back == GateFile(receipt)
    for bad in (42, b"bytes", None, expected):
        with pytest.raises(SignalTypeError):
            g.validate(bad)


@dataclass
class Claim:
    amount: float
    receipt: GateFile


@pytest.mark.parametrize("mode", ["live", "detached"])
def test_files_inside_structures(mode: str, receipt: Path):
    g = GateType.of(Claim)
    assert not g.is_file
    g = g if mode == "live" else GateType.from_record(g.to_record())
    out = g.validate(Claim(2, GateFile(receipt)))
    assert out == {"amount": 2.0, "receipt": GateFile(receipt).to_json()}
    assert g.validate({"amount": 2.0, "receipt": str(receipt)}) == out
    back = g.to_python(out)
    if mode == "live":
        assert back == Claim(2.0, GateFile(receipt))
    else:
        assert back["receipt"] == GateFile(receipt)
    lists = GateType.of(list[GateFile])
    assert lists.validate([receipt]) == [GateFile(receipt).to_json()]


def test_structured_dataset_type_and_format(tmp_path: Path):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    sd = StructuredDataset(uri=str(csv))
    assert sd.file_format == "csv" and isinstance(sd, GateFile)
    assert StructuredDataset(uri=str(tmp_path / "t.parquet")).file_format == "parquet"
    assert StructuredDataset(str(csv), file_format="csv").path == str(csv)
    with pytest.raises(SignalTypeError):
        StructuredDataset(uri=str(csv), file_format="xlsx")
    g = GateType.of(StructuredDataset)
    assert g.is_file and g.literal_type.tag == "dataframe"
    out = g.validate(sd)
    assert out["file_format"] == "csv" and out["sha256"] == sha(csv.read_bytes())
    back = GateType.from_record(g.to_record()).to_python(out)
    assert isinstance(back, StructuredDataset) and back.file_format == "csv"
    copy = sd.persist(tmp_path / "store")
    assert isinstance(copy, StructuredDataset) and copy.file_format == "csv" and copy == sd


def test_structured_dataset_reads_csv_with_pandas(tmp_path: Path):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    df = StructuredDataset(uri=str(csv)).open(pd.DataFrame).all()
    assert list(df.columns) == ["a", "b"] and df["a"].tolist() == [1, 2]
    made = StructuredDataset(dataframe=df)
    assert made.open(pd.DataFrame).all().equals(df)


def test_structured_dataset_without_pandas_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(ImportError, match="pip install pandas"):
        StructuredDataset(uri=str(csv)).open(object).all()


def test_gatefile_pickles(receipt: Path):
    f = GateFile(receipt)
    assert pickle.loads(pickle.dumps(f)) == f
