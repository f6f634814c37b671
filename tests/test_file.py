"""GateFile and StructuredDataset: properties, persist, JSON form, identity, validation."""
from __future__ import annotations

import base64
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
from gatewidgets.types.file.access import file_access
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
        _ = f.sha256
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
    inode = os.stat(copy.path).st_ino
    again = GateFile(receipt).persist(store)
    assert again.path == copy.path and os.stat(copy.path).st_ino == inode  # kept (touched: in use), not rewritten
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


# -- trust: one ingest, hashes from bytes, safe names, regular files only, limits ---------------
def test_persist_hashes_the_bytes_and_replaces_a_planted_copy(tmp_path: Path):
    store = tmp_path / "store"
    honest, evil = tmp_path / "honest.txt", tmp_path / "evil.txt"
    honest.write_bytes(b"honest")
    evil.write_bytes(b"evil")
    # a claimed hash is ignored: the copy goes where the bytes say
    claimed = GateFile.from_json({"path": str(evil), "name": "r.txt", "sha256": sha(b"honest"), "size": 1})
    copy = claimed.persist(store)
    assert copy.sha256 == sha(b"evil") and copy.size == 4
    assert Path(copy.path) == store / sha(b"evil")[:2] / sha(b"evil") / "r.txt"
    # bytes planted under the honest file's hash are replaced, atomically, by the honest bytes
    planted = store / sha(b"honest")[:2] / sha(b"honest") / "r.txt"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"evil")
    assert Path(GateFile(honest, name="r.txt").persist(store).path).read_bytes() == b"honest"
    assert planted.read_bytes() == b"honest"
    assert not [p for p in store.rglob(".part-*")]
    # a stored value's hash is never taken from its record either
    assert GateFile.from_json({**copy.to_json(), "sha256": sha(b"honest")}).sha256 == sha(b"evil")


@pytest.mark.parametrize("bad", ["../../outside", "a/b", "a\\b", "..", ".", "", "a\x00b", "x" * 256])
def test_file_names_must_be_plain(bad: str, receipt: Path, tmp_path: Path):
    with pytest.raises(SignalTypeError, match="not a plain file name"):
        GateFile(receipt, name=bad)
    with pytest.raises(SignalTypeError, match="not a plain file name"):
        GateFile.from_json({"path": str(receipt), "name": bad})
    with pytest.raises(SignalTypeError, match="not a plain file name"):
        GateFile.from_bytes(b"x", bad)
    with pytest.raises(SignalTypeError, match="not a plain file name"):
        GateType.of(list[GateFile]).validate_json([{"path": str(receipt), "name": bad}])
    assert not (tmp_path / "outside").exists()
    assert GateFile("s3://bucket/").name == "file" and GateFile("/tmp/..").name == "file"


@pytest.mark.timeout(20)
def test_non_regular_files_are_refused_at_once(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo, tmp_path):
        with pytest.raises(SignalTypeError, match="not a regular file"):
            _ = GateFile(path).sha256
        with pytest.raises(SignalTypeError, match="not a regular file"):
            GateFile(path).persist(tmp_path / "store")
        with pytest.raises(SignalTypeError, match="not a regular file"):
            GateType.of(GateFile).parse_text(str(path))
    assert not (tmp_path / "store").exists()


def test_file_access_limits_paths_and_sizes(tmp_path: Path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside.txt"
    allowed.mkdir()
    outside.write_text("secret")
    (allowed / "ok.txt").write_text("ok")
    (allowed / "link.txt").symlink_to(outside)
    (allowed / "big.bin").write_bytes(b"x" * 11)
    with file_access([allowed], max_bytes=10):
        assert GateFile(allowed / "ok.txt").sha256 == sha(b"ok")
        for path in (outside, allowed / "link.txt", allowed / ".." / "outside.txt", outside.as_uri()):
            with pytest.raises(SignalTypeError, match="only files inside"):
                GateFile(path).persist(tmp_path / "store")
        with pytest.raises(SignalTypeError, match="larger than the limit of 10 bytes"):
            GateFile(allowed / "big.bin").persist(tmp_path / "store")
        with pytest.raises(SignalTypeError, match="larger than the limit of 10 bytes"):
            GateFile.from_json({"name": "big.bin", "content": base64.b64encode(b"x" * 11).decode()})
    with file_access(()):
        with pytest.raises(SignalTypeError, match="server-side paths are not accepted"):
            _ = GateFile(allowed / "ok.txt").sha256
    assert not (tmp_path / "store").exists() or not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert GateFile(outside).sha256 == sha(b"secret")  # outside the block: this process's own files


def test_uploads_are_files_whose_bytes_came_with_the_value(tmp_path: Path):
    up = {"name": "r.pdf", "content": base64.b64encode(b"%PDF up").decode()}
    f = GateFile.from_json(up)
    assert f.name == "r.pdf" and f.size == 7 and f.sha256 == sha(b"%PDF up") and f.open().read() == b"%PDF up"
    assert f.to_json() == {**up, "size": 7, "sha256": sha(b"%PDF up")} and f == GateFile.from_bytes(b"%PDF up", "x")
    copy = f.persist(tmp_path / "store")
    assert copy.to_json() == {"path": str(tmp_path / "store" / sha(b"%PDF up")[:2] / sha(b"%PDF up") / "r.pdf"),
                              "name": "r.pdf", "size": 7, "sha256": sha(b"%PDF up")}
    for g in (GateType.of(Claim), GateType.from_record(GateType.of(Claim).to_record())):
        form = g.validate_json({"amount": 1.0, "receipt": up})
        stored = g.map_files(form, lambda file: file.persist(tmp_path / "store"))
        assert stored == {"amount": 1.0, "receipt": copy.to_json()}
    with pytest.raises(SignalTypeError, match="base64"):
        GateFile.from_json({"name": "r.pdf", "content": "not base64!"})
    sd = StructuredDataset.from_json({"name": "t.csv", "content": base64.b64encode(b"a\n1\n").decode()})
    assert isinstance(sd, StructuredDataset) and sd.file_format == "csv"
    assert isinstance(sd.persist(tmp_path / "store"), StructuredDataset)
