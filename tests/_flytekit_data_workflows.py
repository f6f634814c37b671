"""flytekit data workflows, written after the shapes of Flyte's user-guide examples (data types and I/O,
advanced composition), for the differential test: each runs on flytekit's local execution and through
``gatewidgets.launch``, and the outputs must be equal.

They live in a module because flytekit reads its tasks' source. Nothing here imports gatewidgets.
``CASES`` lists (workflow, inputs maker) pairs; an inputs maker gets a fresh folder for input files.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, NamedTuple

import numpy as np
import pandas as pd
import pydantic
from flytekit import LaunchPlan, conditional, dynamic, kwtypes, map_task, task, workflow
from flytekit.core.task import Echo
from flytekit.core.type_engine import TypeEngine, TypeTransformer
from flytekit.models.literals import Literal, Primitive, Scalar
from flytekit.models.types import LiteralType, SimpleType
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile
from flytekit.types.structured import StructuredDataset
from flytekit.types.structured.structured_dataset import (
    CSV,
    PARQUET,
    StructuredDatasetDecoder,
    StructuredDatasetEncoder,
    StructuredDatasetTransformerEngine,
)

Subset = Annotated[StructuredDataset, kwtypes(name=str, age=int)]
CsvDataset = Annotated[StructuredDataset, CSV]
ParquetDataset = Annotated[StructuredDataset, PARQUET]


def _people() -> pd.DataFrame:
    return pd.DataFrame({"name": ["ada", "bob", "cy"], "age": [36, 41, 29], "height": [1.62, 1.80, 1.75]})


def _workdir() -> Path:
    import flytekit

    return Path(flytekit.current_context().working_directory)


# ------------------------------------------------------------------ StructuredDataset with pandas


@task
def make_people() -> pd.DataFrame:
    return _people()


@task
def people_dataset() -> StructuredDataset:
    return StructuredDataset(dataframe=_people())


@task
def mean_age(sd: StructuredDataset) -> float:
    return float(sd.open(pd.DataFrame).all()["age"].mean())


@task
def only_columns(sd: Subset) -> pd.DataFrame:
    return sd.open(pd.DataFrame).all()


@task
def older(df: pd.DataFrame, by: int) -> pd.DataFrame:
    return df.assign(age=df["age"] + by)


@workflow
def wf_dataframe_to_dataset() -> float:
    return mean_age(sd=make_people())


@workflow
def wf_column_subset() -> pd.DataFrame:
    return only_columns(sd=make_people())


@workflow
def wf_dataset_to_dataframe() -> pd.DataFrame:
    return older(df=people_dataset(), by=1)


@workflow
def wf_dataset_output() -> StructuredDataset:
    return people_dataset()


@workflow
def wf_dataframe_input(df: pd.DataFrame) -> pd.DataFrame:
    return older(df=df, by=2)


@workflow
def wf_dataset_input(sd: StructuredDataset) -> float:
    return mean_age(sd=sd)


# ------------------------------------------------------------------ CSV and Parquet


@task
def to_csv(df: pd.DataFrame) -> CsvDataset:
    return StructuredDataset(dataframe=df)


@task
def from_csv(sd: CsvDataset) -> pd.DataFrame:
    return sd.open(pd.DataFrame).all()


@task
def to_parquet(df: pd.DataFrame) -> ParquetDataset:
    return StructuredDataset(dataframe=df)


@task
def names_from_parquet(sd: Annotated[StructuredDataset, kwtypes(name=str), PARQUET]) -> list[str]:
    return list(sd.open(pd.DataFrame).all()["name"])


@workflow
def wf_csv() -> pd.DataFrame:
    return from_csv(sd=to_csv(df=make_people()))


@workflow
def wf_parquet() -> list[str]:
    return names_from_parquet(sd=to_parquet(df=make_people()))


@workflow
def wf_csv_to_subset() -> pd.DataFrame:
    return only_columns(sd=to_csv(df=make_people()))


# ------------------------------------------------------------------ numpy (and a user-registered dataset handler)


class NumpyEncoder(StructuredDatasetEncoder):
    """The user guide's numpy encoder: a 2-D array as a Parquet table."""

    def __init__(self) -> None:
        super().__init__(np.ndarray, None, PARQUET)

    def encode(self, ctx: Any, structured_dataset: StructuredDataset, structured_dataset_type: Any) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from flytekit.models import literals

        array = typing.cast(np.ndarray, structured_dataset.dataframe)
        table = pa.Table.from_arrays([pa.array(col) for col in array.T], names=[f"c{i}" for i in range(array.shape[1])])
        path = ctx.file_access.get_random_local_directory()
        pq.write_table(table, os.path.join(path, "00000"))
        uri = ctx.file_access.get_random_remote_directory()
        ctx.file_access.put_data(path, uri, is_multipart=True)
        structured_dataset_type.format = PARQUET
        return literals.StructuredDataset(uri=uri, metadata=literals.StructuredDatasetMetadata(structured_dataset_type))


class NumpyDecoder(StructuredDatasetDecoder):
    def __init__(self) -> None:
        super().__init__(np.ndarray, None, PARQUET)

    def decode(self, ctx: Any, flyte_value: Any, current_task_metadata: Any) -> np.ndarray:
        import pyarrow.parquet as pq

        local = ctx.file_access.get_random_local_directory()
        ctx.file_access.get_data(flyte_value.uri, local, is_multipart=True)
        return pq.read_table(local).to_pandas().to_numpy()


for _handler in (NumpyEncoder(), NumpyDecoder()):
    StructuredDatasetTransformerEngine.register(_handler, override=True)


@task
def make_matrix() -> np.ndarray:
    return np.arange(6, dtype=np.int64).reshape(2, 3)


@task
def matrix_dataset() -> StructuredDataset:
    return StructuredDataset(dataframe=np.arange(6, dtype=np.int64).reshape(3, 2))


@task
def column_sums(sd: StructuredDataset) -> list[int]:
    return [int(v) for v in sd.open(np.ndarray).all().sum(axis=0)]


@task
def doubled(a: np.ndarray) -> np.ndarray:
    return a * 2


@workflow
def wf_numpy_array() -> np.ndarray:
    return doubled(a=make_matrix())


@workflow
def wf_numpy_dataset() -> list[int]:
    return column_sums(sd=matrix_dataset())


# ------------------------------------------------------------------ FlyteFile and FlyteDirectory


@task
def write_report(text: str) -> FlyteFile:
    path = _workdir() / "report.txt"
    path.write_text(text)
    return FlyteFile(path=str(path))


@task
def shout(f: FlyteFile) -> FlyteFile:
    with open(f) as src:
        text = src.read()
    path = _workdir() / "shout.txt"
    path.write_text(text.upper())
    return FlyteFile(path=str(path))


@task
def count_words(f: FlyteFile) -> int:
    with open(f) as src:
        return len(src.read().split())


@task
def write_folder(n: int) -> FlyteDirectory:
    folder = _workdir() / "parts"
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"part-{i}.txt").write_text(f"part {i}\n" * (i + 1))
    return FlyteDirectory(path=str(folder))


@task
def folder_lines(d: FlyteDirectory) -> dict[str, int]:
    local = d.download()
    return {name: len(Path(local, name).read_text().splitlines()) for name in sorted(os.listdir(local))}


@task
def folder_files(d: FlyteDirectory) -> list[FlyteFile]:
    local = d.download()
    return [FlyteFile(path=os.path.join(local, name)) for name in sorted(os.listdir(local))]


@workflow
def wf_file_output() -> FlyteFile:
    return shout(f=write_report(text="data crosses the border"))


@workflow
def wf_file_input(f: FlyteFile) -> int:
    return count_words(f=f)


@workflow
def wf_directory_output() -> FlyteDirectory:
    return write_folder(n=3)


@workflow
def wf_directory_chain() -> dict[str, int]:
    return folder_lines(d=write_folder(n=4))


@workflow
def wf_directory_input(d: FlyteDirectory) -> dict[str, int]:
    return folder_lines(d=d)


@workflow
def wf_list_of_files() -> list[FlyteFile]:
    return folder_files(d=write_folder(n=2))


# ------------------------------------------------------------------ dataclasses and pydantic models holding data


@dataclasses.dataclass
class Bundle:
    report: FlyteFile
    folder: FlyteDirectory
    table: StructuredDataset
    label: str


@task
def make_bundle(label: str) -> Bundle:
    path = _workdir() / "bundle.txt"
    path.write_text(f"bundle {label}")
    folder = _workdir() / "bundle-dir"
    folder.mkdir(exist_ok=True)
    (folder / "a.txt").write_text("a")
    return Bundle(report=FlyteFile(str(path)), folder=FlyteDirectory(str(folder)),
                  table=StructuredDataset(dataframe=_people()), label=label)


@task
def open_bundle(b: Bundle) -> str:
    with open(b.report) as f:
        text = f.read()
    files = sorted(os.listdir(b.folder.download()))
    rows = len(b.table.open(pd.DataFrame).all())
    return f"{b.label}: {text} / {files} / {rows} rows"


@workflow
def wf_dataclass_with_data(label: str = "q3") -> str:
    return open_bundle(b=make_bundle(label=label))


@workflow
def wf_dataclass_output(label: str = "q4") -> Bundle:
    return make_bundle(label=label)


class Shipment(pydantic.BaseModel):
    manifest: FlyteFile
    table: StructuredDataset
    count: int

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)


@task
def make_shipment() -> Shipment:
    path = _workdir() / "manifest.txt"
    path.write_text("crates: 4")
    return Shipment(manifest=FlyteFile(str(path)), table=StructuredDataset(dataframe=_people()), count=4)


@task
def check_shipment(s: Shipment) -> str:
    with open(s.manifest) as f:
        return f"{f.read()} / {list(s.table.open(pd.DataFrame).all().columns)} / {s.count}"


@workflow
def wf_pydantic_with_data() -> str:
    return check_shipment(s=make_shipment())


# ------------------------------------------------------------------ enums, attribute access, named outputs


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


@task
def next_color(c: Color) -> Color:
    members = list(Color)
    return members[(members.index(c) + 1) % len(members)]


@task
def color_name(c: Color) -> str:
    return c.value


@workflow
def wf_enum(c: Color = Color.RED) -> tuple[Color, str]:
    n = next_color(c=c)
    return n, color_name(c=n)


@dataclasses.dataclass
class Stats:
    mean: float
    names: list[str]
    by_name: dict[str, int]


@task
def stats_of(sd: StructuredDataset) -> Stats:
    df = sd.open(pd.DataFrame).all()
    return Stats(mean=float(df["age"].mean()), names=list(df["name"]), by_name=dict(zip(df["name"], df["age"])))


@task
def describe(mean: float, first: str, bob: int) -> str:
    return f"{mean:.2f} {first} {bob}"


@workflow
def wf_attribute_access() -> str:
    s = stats_of(sd=make_people())
    return describe(mean=s.mean, first=s.names[0], bob=s.by_name["bob"])


class Split(NamedTuple):
    young: pd.DataFrame
    old: StructuredDataset


@task
def split_people(df: pd.DataFrame, cut: int) -> Split:
    return Split(young=df[df["age"] < cut], old=StructuredDataset(dataframe=df[df["age"] >= cut]))


@task
def row_count(sd: StructuredDataset) -> int:
    return len(sd.open(pd.DataFrame).all())


@workflow
def wf_named_outputs(cut: int = 35) -> tuple[int, int]:
    parts = split_people(df=make_people(), cut=cut)
    return row_count(sd=parts.young), row_count(sd=parts.old)


# ------------------------------------------------------------------ a user-registered TypeTransformer


class Fraction:
    def __init__(self, num: int, den: int) -> None:
        self.num, self.den = num, den

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fraction) and (self.num, self.den) == (other.num, other.den)


class FractionTransformer(TypeTransformer[Fraction]):
    """Stored as the string ``"num/den"`` (what a user-registered transformer looks like)."""

    def __init__(self) -> None:
        super().__init__("fraction", Fraction)

    def get_literal_type(self, t: type[Fraction]) -> LiteralType:
        return LiteralType(simple=SimpleType.STRING)

    def to_literal(self, ctx: Any, python_val: Fraction, python_type: type[Fraction], expected: LiteralType) -> Literal:
        return Literal(scalar=Scalar(primitive=Primitive(string_value=f"{python_val.num}/{python_val.den}")))

    def to_python_value(self, ctx: Any, lv: Literal, expected_python_type: type[Fraction]) -> Fraction:
        num, den = lv.scalar.primitive.string_value.split("/")
        return Fraction(int(num), int(den))


TypeEngine.register(FractionTransformer())


@task
def half() -> Fraction:
    return Fraction(1, 2)


@task
def times(f: Fraction, n: int) -> str:
    return f"{f.num * n}/{f.den} ({type(f).__name__})"


@workflow
def wf_user_transformer() -> str:
    return times(f=half(), n=3)


# ------------------------------------------------------------------ conditionals, Echo, nested conditionals

noop = Echo(name="noop", inputs={"df": pd.DataFrame})


@task
def keep_adults(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["age"] >= 30]


@workflow
def wf_conditional_echo(filter_rows: bool) -> pd.DataFrame:
    df = make_people()
    return conditional("filter").if_(filter_rows.is_true()).then(keep_adults(df=df)).else_().then(noop(df=df))


@task
def label_of(x: float, what: str) -> str:
    return f"{what}:{x}"


@workflow
def wf_nested_conditional(x: float) -> str:
    mean = mean_age(sd=make_people())
    return (conditional("outer").if_(x > 0.0).then(
        conditional("inner").if_(x > 10.0).then(label_of(x=mean, what="big")).else_().then(
            label_of(x=x, what="small")))
        .else_().then(label_of(x=mean, what="negative")))


# ------------------------------------------------------------------ dynamic, map tasks with partials, sub-workflows


@task
def slice_people(df: pd.DataFrame, start: int) -> StructuredDataset:
    return StructuredDataset(dataframe=df.iloc[start:start + 1])


@dynamic
def per_row(df: pd.DataFrame) -> list[int]:
    return [row_count(sd=slice_people(df=df, start=i)) for i in range(len(df))]


@workflow
def wf_dynamic() -> list[int]:
    return per_row(df=make_people())


@task
def scaled(x: float, factor: float) -> float:
    return x * factor


@task
def floats(n: int) -> list[float]:
    return [float(i) + 0.5 for i in range(n)]


@workflow
def wf_map_partial(n: int = 4) -> list[float]:
    return map_task(functools.partial(scaled, factor=3.0))(x=floats(n=n))


@task
def word_total(f: FlyteFile) -> int:
    with open(f) as src:
        return len(src.read().split())


@workflow
def wf_map_files() -> list[int]:
    return map_task(word_total)(f=folder_files(d=write_folder(n=3)))


@workflow
def sub_summary(df: pd.DataFrame) -> float:
    return mean_age(sd=df)


@workflow
def wf_subworkflow() -> float:
    return sub_summary(df=older(df=make_people(), by=10))


@workflow
def lp_body(df: pd.DataFrame, by: int) -> pd.DataFrame:
    return older(df=df, by=by)


older_lp = LaunchPlan.get_or_create(lp_body, name="older_by_5", fixed_inputs={"by": 5})


@workflow
def wf_launch_plan() -> pd.DataFrame:
    return older_lp(df=make_people())


@task
def stamp_file(f: FlyteFile, text: str) -> FlyteFile:
    with open(f) as src:
        old = src.read()
    path = _workdir() / "stamped.txt"
    path.write_text(f"{old}\n{text}")
    return FlyteFile(path=str(path))


@workflow
def wf_chaining() -> FlyteFile:
    first = write_report(text="chain")
    second = stamp_file(f=first, text="two")
    third = stamp_file(f=second, text="three")
    first >> second
    return third


@task
def mean_of(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@workflow
def wf_floats(xs: list[float]) -> float:
    return mean_of(xs=xs)


# ------------------------------------------------------------------ the cases


def _text_file(folder: Path) -> dict[str, Any]:
    path = folder / "words.txt"
    path.write_text("one two three four")
    return {"f": str(path)}


def _folder(folder: Path) -> dict[str, Any]:
    for i in range(3):
        (folder / f"f{i}.txt").write_text("x\n" * (i + 2))
    return {"d": str(folder)}


def _none(folder: Path) -> dict[str, Any]:
    return {}


def _given(**inputs: Any) -> Callable[[Path], dict[str, Any]]:
    return lambda folder: dict(inputs)


CASES: list[tuple[Any, Callable[[Path], dict[str, Any]]]] = [
    (wf_dataframe_to_dataset, _none),
    (wf_column_subset, _none),
    (wf_dataset_to_dataframe, _none),
    (wf_dataset_output, _none),
    (wf_dataframe_input, _given(df=_people())),
    (wf_dataset_input, _given(sd=StructuredDataset(dataframe=_people()))),
    (wf_csv, _none),
    (wf_parquet, _none),
    (wf_csv_to_subset, _none),
    (wf_numpy_array, _none),
    (wf_numpy_dataset, _none),
    (wf_file_output, _none),
    (wf_file_input, _text_file),
    (wf_directory_output, _none),
    (wf_directory_chain, _none),
    (wf_directory_input, _folder),
    (wf_list_of_files, _none),
    (wf_dataclass_with_data, _none),
    (wf_dataclass_output, _none),
    (wf_pydantic_with_data, _none),
    (wf_enum, _given(c=Color.BLUE)),
    (wf_attribute_access, _none),
    (wf_named_outputs, _none),
    (wf_user_transformer, _none),
    (wf_conditional_echo, _given(filter_rows=True)),
    (wf_conditional_echo, _given(filter_rows=False)),
    (wf_nested_conditional, _given(x=20.0)),
    (wf_nested_conditional, _given(x=-1.0)),
    (wf_nested_conditional, _given(x=3.0)),
    (wf_dynamic, _none),
    (wf_map_partial, _none),
    (wf_map_files, _none),
    (wf_subworkflow, _none),
    (wf_launch_plan, _none),
    (wf_chaining, _none),
    (wf_floats, _given(xs=[1.5, 2.5])),
]
