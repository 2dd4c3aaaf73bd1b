"""The demo generator writes every department's drop where and how the standards say, with valid
identifiers except the defects it reports, the same people and companies across departments, and the
same bytes for the same seed. Identifier validity is judged by python-stdnum (an independent oracle)
and by the platform's own vectorised rules."""

import datetime
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from governance_demo import DemoDrop, write_demo_data
from governance_demo.defects import NUMBER_CELL_KINDS
from openpyxl import load_workbook
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

from governance.identifiers import credit_code_reasons, make_credit_code, resident_id_reasons
from governance.settings import REPO_ROOT
from governance.sources import files
from governance.sources.cells import NUMERIC_CELLS
from governance.sources.encodings import GB18030
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.names import SEPARATOR, normalise_separators

DAY = datetime.date(2026, 11, 28)
ROWS = 2000
CSV_ENCODINGS = {"utf-8": "utf-8", "gbk": GB18030, "auto": "utf-8-sig"}
ID_KINDS = {"id_bad_check_character", "id_lowercase_x", "id_full_width_digits", "id_surrounding_spaces",
            "id_scientific_notation", "id_legacy_15_digit", "id_17_characters"}
CREDIT_KINDS = {"credit_code_bad_check_character", "credit_code_bad_organization_code"}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture(scope="module")
def demo(catalogue, tmp_path_factory) -> tuple[Path, dict[str, DemoDrop], dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("demo")
    drops = write_demo_data(catalogue, root / "landing", root / "var", DAY, rows=ROWS)
    by_key = {drop.dataset: drop for drop in drops}
    frames = {key: read_drop(catalogue, key, drop) for key, drop in by_key.items()}
    return root, by_key, frames


def read_drop(catalogue: Catalogue, key: str, drop: DemoDrop) -> pd.DataFrame:
    """Read a drop back as text, the way a careful reader would (no type guessing, empty = NA)."""
    source = catalogue.dataset(key).source
    if source.kind == "csv":
        frame = pd.read_csv(drop.path, dtype=str, keep_default_na=False, na_values=[""],
                            encoding=CSV_ENCODINGS[source.encoding], sep=source.delimiter)
    elif source.kind == "excel":
        frame = pd.concat([pd.read_excel(path, sheet_name=source.sheet, dtype=str) for path in drop.files])
    else:
        with sqlite3.connect(drop.path) as connection:
            frame = pd.read_sql_query(source.query, connection).astype(object)
        frame = frame.map(lambda v: None if pd.isna(v) else str(v))
    return frame.astype("string").reset_index(drop=True)


def read_workbook(catalogue: Catalogue, key: str, drop: DemoDrop) -> pd.DataFrame:
    """A workbook drop as the pipeline's reader reads it: text, number cells in text columns marked."""
    dataset = catalogue.dataset(key)
    return pd.concat([files.read_excel(path, sheet=dataset.source.sheet, columns=catalogue.columns(dataset))
                      for path in drop.files], ignore_index=True)


def number_cells(catalogue: Catalogue, key: str, drop: DemoDrop, column: str) -> np.ndarray:
    """Rows whose cell in ``column`` is a number cell (workbooks only)."""
    if catalogue.dataset(key).source.kind != "excel":
        return np.zeros(drop.rows, dtype=bool)
    marks = read_workbook(catalogue, key, drop)[NUMERIC_CELLS].fillna("").str.split(",")
    return marks.map(lambda names: column in names).to_numpy(dtype=bool)


def id_is_valid(value: object) -> bool:
    """Independent oracle: ASCII 18 characters, ISO 7064 MOD 11-2 (stdnum), a real past birth date."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{17}[0-9X]", value) or not mod_11_2.is_valid(value):
        return False
    try:
        return datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14])) <= DAY
    except ValueError:
        return False


def columns_of(catalogue: Catalogue, key: str, validator: str) -> list[str]:
    return [c.name for c in catalogue.columns(catalogue.dataset(key)) if c.element.domain.validator == validator]


def planted(drop: DemoDrop, kinds: set[str]) -> int:
    return sum(count for kind, count in drop.defects.items() if kind in kinds)


# ------------------------------------------------------------------------------- where and how


def test_every_dataset_gets_one_drop_in_its_folder(catalogue, demo):
    root, drops, _ = demo
    assert set(drops) == set(catalogue.datasets)
    for key, drop in drops.items():
        dataset = catalogue.dataset(key)
        if dataset.source.kind == "sql":
            assert drop.path == root / "var" / "departments" / f"{dataset.department}.db"
        else:
            folder = root / "landing" / dataset.department / dataset.name / "2026-11-28"
            suffix = ".csv" if dataset.source.kind == "csv" else ".xlsx"
            assert drop.path == folder / f"{dataset.name}_20261128{suffix}"
            manifest = folder / "MANIFEST.json"  # the delivery protocol: written last, listing the drop
            assert sorted(folder.iterdir()) == sorted([drop.path, manifest]), "no partial or stray files left behind"
            listed = json.loads(manifest.read_text(encoding="utf-8"))
            assert (listed["dataset"], listed["business_date"]) == (key, "2026-11-28")
            assert [(f["name"], f["size"], f["rows"]) for f in listed["files"]] == [
                (drop.path.name, drop.path.stat().st_size, drop.rows)]
        assert drop.path.is_file()


def test_csv_files_are_in_their_declared_encodings(catalogue, demo):
    _, drops, _ = demo
    seen = set()
    for key, drop in drops.items():
        source = catalogue.dataset(key).source
        if source.kind != "csv":
            continue
        raw = drop.path.read_bytes()
        seen.add(source.encoding)
        if source.encoding == "gbk":  # written as GB 18030, as systems that say GBK do
            assert "有限公司" in raw.decode(GB18030)
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            if any(c.element.domain.validator == "person_name" for c in catalogue.columns(catalogue.dataset(key))):
                with pytest.raises(UnicodeDecodeError):  # the rare-character names are outside GBK
                    raw.decode("gbk")
            else:  # without them the GB 18030 file is plain GBK
                assert raw.decode("gbk") == raw.decode(GB18030)
        elif source.encoding == "auto":
            assert raw.startswith(b"\xef\xbb\xbf")
            assert "医院" in raw.decode("utf-8-sig")
        else:
            assert not raw.startswith(b"\xef\xbb\xbf")
            assert "浙江省" in raw.decode("utf-8")
    assert seen == {"utf-8", "gbk", "auto"}


def test_workbook_has_the_declared_sheet_with_a_header_row(catalogue, demo):
    _, drops, _ = demo
    key = "human_resources/social_insurance_enrollment"
    workbook = load_workbook(drops[key].path, read_only=True)
    sheet = catalogue.dataset(key).source.sheet
    assert workbook.sheetnames == [sheet] == ["参保信息"]
    header = next(workbook[sheet].iter_rows(values_only=True))
    assert list(header) == [c.name for c in catalogue.columns(catalogue.dataset(key))]


def test_sql_source_is_a_sqlite_table_behind_an_airflow_connection(catalogue, demo):
    from airflow.secrets.local_filesystem import load_connections_dict

    root, drops, frames = demo
    drop = drops["civil_affairs/subsistence_allowance"]
    with sqlite3.connect(drop.path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM allowance_recipients").fetchone()
    assert count == drop.rows == len(frames["civil_affairs/subsistence_allowance"]) >= 100
    connections = load_connections_dict(str(root / "var" / "secrets" / "connections.json"))
    connection = connections["civil_affairs_db"]
    assert connection.conn_type == "sqlite"
    assert connection.get_uri() and (connection.host or connection.schema) == str(drop.path)


def test_connections_file_keeps_other_entries_and_the_table_is_replaced(catalogue, tmp_path):
    secrets = tmp_path / "var" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "connections.json").write_text(json.dumps({"warehouse": "postgresql://u:p@db/w"}))
    write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=400)
    drops = write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=200)
    entries = json.loads((secrets / "connections.json").read_text())
    assert entries["warehouse"] == "postgresql://u:p@db/w"
    assert entries["civil_affairs_db"] == f"sqlite:///{tmp_path / 'var' / 'departments' / 'civil_affairs.db'}"
    drop = next(d for d in drops if d.dataset == "civil_affairs/subsistence_allowance")
    with sqlite3.connect(drop.path) as connection:
        assert connection.execute("SELECT count(*) FROM allowance_recipients").fetchone() == (drop.rows,)


def test_columns_are_exactly_the_standards_columns_in_order(catalogue, demo):
    _, drops, frames = demo
    for key, frame in frames.items():
        assert list(frame.columns) == [c.name for c in catalogue.columns(catalogue.dataset(key))], key
        assert len(frame) == drops[key].rows


# ------------------------------------------------------------------------------ identifiers


def test_resident_ids_are_valid_except_the_planted_defects(catalogue, demo):
    """Number cells (in a workbook: the typed-as-number defect, and scientific notation, which is a number there)
    are refused for their type whatever digits they show, so only the other cells are judged here."""
    _, drops, frames = demo
    for key, frame in frames.items():
        for column in columns_of(catalogue, key, "resident_id"):
            numbers = number_cells(catalogue, key, drops[key], column)
            values = frame[column][~numbers]
            assert values.notna().all()
            invalid = (~values.map(id_is_valid, na_action=None).astype(bool)).sum()
            expected = planted(drops[key], ID_KINDS) - (numbers.sum() - drops[key].defects.get("id_number_cell", 0))
            assert expected > 0 and invalid == expected, (key, column)
            assert resident_id_reasons(values, today=DAY).notna().sum() == expected


def test_number_cells_are_planted_in_the_workbook_only(catalogue, demo):
    """A few ID and code cells of the Excel drop are number cells (what the pipeline quarantines as
    ``numeric_cell``), each on a row of its own and counted; CSV and database drops have none."""
    _, drops, _ = demo
    for key, drop in drops.items():
        typed = {kind: count for kind, count in drop.defects.items() if kind in NUMBER_CELL_KINDS}
        if catalogue.dataset(key).source.kind != "excel":
            assert typed == {}, key
            continue
        assert typed == {"id_number_cell": typed["id_number_cell"], "code_number_cell": typed["code_number_cell"]}
        ids = number_cells(catalogue, key, drop, "id_number")
        codes = number_cells(catalogue, key, drop, "insurance_type")
        assert ids.sum() == typed["id_number_cell"] + drop.defects["id_scientific_notation"] and codes.sum() > 0
        assert codes.sum() == typed["code_number_cell"] and not (ids & codes).any()
        digits = read_workbook(catalogue, key, drop)["id_number"][ids]
        assert digits.str.fullmatch(r"[0-9]{15}0{3}|[0-9]{6}0{12}").all()  # 15 significant digits, or 6


def test_every_kind_of_id_defect_looks_like_the_real_thing(demo):
    _, drops, frames = demo
    ids = frames["public_security/resident_population"]["id_number"]
    defects = drops["public_security/resident_population"].defects
    assert set(defects) >= ID_KINDS
    reasons = resident_id_reasons(ids, today=DAY).value_counts().to_dict()
    assert reasons == {
        "bad_check_character": defects["id_bad_check_character"],
        "lowercase_check_character": defects["id_lowercase_x"],
        "full_width_digits": defects["id_full_width_digits"],
        "whitespace": defects["id_surrounding_spaces"],
        "scientific_notation": defects["id_scientific_notation"],
        "legacy_15_digit": defects["id_legacy_15_digit"],
        "bad_length": defects["id_17_characters"],
    }
    assert ids.str.fullmatch(r"\d\.\d{5}E\+17").sum() == defects["id_scientific_notation"]


def test_credit_codes_are_valid_except_the_planted_defects(catalogue, demo):
    _, drops, frames = demo
    for key, frame in frames.items():
        for column in columns_of(catalogue, key, "credit_code"):
            values = frame[column].dropna()
            bad_check = (~values.map(uscc.is_valid).astype(bool)).sum()
            assert bad_check == drops[key].defects.get("credit_code_bad_check_character", 0), (key, column)
            assert credit_code_reasons(values).notna().sum() == planted(drops[key], CREDIT_KINDS)
            assert planted(drops[key], CREDIT_KINDS) > 0


def test_credit_codes_match_the_shared_generator(demo):
    _, _, frames = demo
    codes = frames["market_regulation/enterprise_registration"]["credit_code"]
    sample = codes[credit_code_reasons(codes).isna()].head(200)
    assert all(make_credit_code(code[:8], code[8:16]) == code for code in sample)
    assert set(sample.str.slice(0, 2)) <= {"91", "92", "93"}
    institutions = frames["health/medical_institution"]["credit_code"]
    assert institutions.str.startswith("12").any() and institutions.str.startswith("91").any()


# ------------------------------------------------------------------------- realistic values


def test_population_fields_agree_with_the_id_except_the_planted_defects(catalogue, demo):
    _, drops, frames = demo
    key = "public_security/resident_population"
    people, defects = frames[key], drops[key].defects
    valid = people[people["id_number"].map(id_is_valid).astype(bool)]
    parity = np.where(valid["id_number"].str.slice(16, 17).astype(int) % 2 == 1, "1", "2")
    gender = valid["gender"]
    assert (gender.isin(["1", "2"]) & (gender != parity)).sum() == defects["gender_id_mismatch"]
    assert (people["gender"] == "3").sum() == defects["gender_unknown_code"]
    born = valid["id_number"].str.slice(6, 10) + "-" + valid["id_number"].str.slice(10, 12) + "-" + \
        valid["id_number"].str.slice(12, 14)
    assert (valid["birth_date"].notna() & (valid["birth_date"] != born)).sum() == defects["birth_date_future"]
    assert (valid["region_code"] == valid["id_number"].str.slice(0, 6)).mean() > 0.6
    assert born.str.slice(0, 4).astype(int).between(1940, 2010).all()
    divisions = catalogue.code_tables["division"]
    codes = people["region_code"].dropna()
    assert (~codes.isin(list(divisions.codes))).sum() == defects["region_code_unknown"]
    assert not codes.isin(list(divisions.retired)).any()
    mobiles = people["mobile"].dropna()
    assert (~mobiles.str.fullmatch(r"1[3-9]\d{9}")).sum() == defects["mobile_country_prefix"] + \
        defects["mobile_separators"]
    ethnicity = people["ethnicity"].value_counts(normalize=True)
    assert 0.85 < ethnicity["01"] < 0.95 and len(ethnicity) > 5
    assert (people["ethnicity"] == "99").sum() == defects["ethnicity_unknown_code"]


def test_dates_times_and_decimals_have_the_standard_formats(catalogue, demo):
    _, _, frames = demo
    formats = {"date": r"\d{4}-\d{2}-\d{2}", "datetime": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
               "decimal": r"\d+\.\d{1,2}|\d+"}
    for key, frame in frames.items():
        for column in catalogue.columns(catalogue.dataset(key)):
            pattern = formats.get(column.element.type)
            if pattern and column.element.key != "birth_date":
                values = frame[column.name].dropna()
                assert values.str.fullmatch(pattern).all(), (key, column.name)
        updated = pd.to_datetime(frame["updated_at"].dropna())
        end_of_day = pd.Timestamp(DAY) + pd.Timedelta(days=1)
        assert updated.max() < end_of_day and updated.min() > end_of_day - pd.Timedelta(days=31)


def test_required_values_are_missing_only_where_planted(catalogue, demo):
    _, drops, frames = demo
    for key, frame in frames.items():
        required = [c.name for c in catalogue.columns(catalogue.dataset(key)) if c.required]
        missing = frame[required].isna().any(axis=1).sum()
        assert missing == drops[key].defects.get("required_missing", 0), key


def test_defects_are_a_small_share_spread_over_kinds_plus_one_or_two_duplicates(catalogue, demo):
    _, drops, frames = demo
    for key, drop in drops.items():
        dataset = catalogue.dataset(key)
        duplicates = frames[key].duplicated(subset=dataset.primary_key).sum()
        assert 1 <= duplicates <= 2, key
        assert drop.defects["duplicate_key"] == 2 * duplicates, key  # both rows of a key are quarantined
        rows = drop.rows - duplicates
        assert sum(drop.defects.values()) - 2 * duplicates == round(0.03 * rows), key
    population = drops["public_security/resident_population"].defects
    assert len(population) >= 15 and max(population.values()) <= 2 * min(population.values()) + 2


def test_defects_can_be_switched_off_and_never_be_the_majority(catalogue, tmp_path):
    drops = write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=60, defect_share=0)
    assert all(drop.defects == {} for drop in drops)
    population = next(drop for drop in drops if drop.dataset == "public_security/resident_population")
    frame = read_drop(catalogue, population.dataset, population)
    assert frame["id_number"].map(id_is_valid).all() and len(frame) == 60
    with pytest.raises(ValueError, match="majority"):
        write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=60, defect_share=0.5)


def test_a_dataset_without_its_own_builder_gets_values_per_element(catalogue, tmp_path):
    from governance.standards.models import Column, Source

    members = catalogue.dataset("public_security/resident_population").model_copy(update={
        "name": "household_members", "primary_key": ["member_id"], "source": Source(kind="csv", encoding="utf-8"),
        "columns": [Column(name="member_id", element="resident_id_number"),
                    Column(name="member_name", element="person_name", required=True),
                    Column(name="phone", element="mobile_number"),
                    Column(name="district", element="division_code", required=True),
                    Column(name="moved_in", element="event_date", required=True),
                    Column(name="note", element="remarks"),
                    Column(name="updated_at", element="record_updated_at", required=True)]})
    small = Catalogue(catalogue.root, catalogue.departments, catalogue.elements, catalogue.code_tables,
                      {members.key: members})
    (drop,) = write_demo_data(small, tmp_path / "landing", tmp_path / "var", DAY, rows=1000)
    assert drop.path == tmp_path / "landing/public_security/household_members/2026-11-28/household_members_20261128.csv"
    frame = read_drop(small, members.key, drop)
    assert list(frame.columns) == [c.name for c in members.columns] and len(frame) == drop.rows > 100
    assert (~frame["member_id"].map(id_is_valid).astype(bool)).sum() == planted(drop, ID_KINDS)
    assert frame["moved_in"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert frame["note"].isna().all() and frame["district"].dropna().str.startswith("33").mean() > 0.9


def test_remarks_quote_a_phone_number_or_an_id_in_a_few_rows(demo):
    _, drops, frames = demo
    remarks = frames["civil_affairs/subsistence_allowance"]["remarks"].dropna()
    leaks = drops["civil_affairs/subsistence_allowance"].leaks
    ids = remarks.str.extract(r"(?<![0-9])([0-9]{17}[0-9X])(?![0-9])")[0].dropna()
    assert ids.map(id_is_valid).all() and len(ids) == leaks["remarks_resident_id"]
    assert remarks.str.contains(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])").sum() == leaks["remarks_mobile"]
    assert 0 < sum(leaks.values()) <= 0.1 * len(remarks)
    assert remarks.nunique() > 5


# -------------------------------------------------------------------- one world, many departments


def test_people_are_shared_across_departments(demo):
    """Valid IDs elsewhere are residents with the same name; only people whose population row carries a
    planted defect (ID or missing name) can be unmatched."""
    _, drops, frames = demo
    people = frames["public_security/resident_population"]
    population_defects = planted(drops["public_security/resident_population"], ID_KINDS)
    names = dict(zip(people["id_number"], people["name"], strict=True))
    for key, id_column, name_column in [("human_resources/social_insurance_enrollment", "id_number", "name"),
                                        ("civil_affairs/subsistence_allowance", "id_number", "name"),
                                        ("market_regulation/enterprise_registration", "legal_rep_id_number",
                                         "legal_representative")]:
        frame = frames[key]
        valid = frame[frame[id_column].map(id_is_valid).astype(bool)]
        known = valid[id_column].isin(names)
        assert known.mean() > 0.9 and valid.loc[~known, id_column].nunique() <= population_defects, key
        both = valid[known & valid[name_column].notna()]
        registered = normalise_separators(both[id_column].map(names))[0]
        # A minority name's separator dot differs between departments until the pull normalises it.
        assert (normalise_separators(both[name_column])[0] == registered)[registered.notna()].all(), key


def test_companies_are_shared_across_departments(demo):
    """Taxpayers and private medical institutions are registered enterprises (same code, matching name);
    employers are enterprises or public institutions."""
    _, drops, frames = demo
    enterprises = frames["market_regulation/enterprise_registration"]
    orphans_allowed = planted(drops["market_regulation/enterprise_registration"], CREDIT_KINDS)
    codes = set(enterprises["credit_code"])
    names = dict(zip(enterprises["credit_code"], enterprises["enterprise_name"], strict=True))
    taxpayers = frames["taxation/taxpayer_credit_rating"]
    valid = taxpayers[credit_code_reasons(taxpayers["credit_code"]).isna()]
    assert (~valid["credit_code"].isin(codes)).sum() <= orphans_allowed
    rated = valid[valid["credit_code"].isin(codes)].dropna(subset=["taxpayer_name"])
    registered = rated["credit_code"].map(names)
    assert len(rated) > 100 and (rated["taxpayer_name"] == registered)[registered.notna()].all()
    institutions = frames["health/medical_institution"]
    private = institutions[institutions["credit_code"].str.startswith("91")
                           & credit_code_reasons(institutions["credit_code"]).isna()]
    assert len(private) > 5 and (~private["credit_code"].isin(codes)).sum() <= orphans_allowed
    named = private[private["credit_code"].isin(codes)].dropna(subset=["institution_name"])
    registered = named["credit_code"].map(names)
    assert (registered == named["institution_name"] + "有限公司")[registered.notna()].all()
    employers = frames["human_resources/social_insurance_enrollment"]["employer_credit_code"].dropna()
    employers = employers[credit_code_reasons(employers).isna()]
    unknown = employers[~employers.isin(codes | set(institutions["credit_code"]))]
    assert unknown.nunique() <= orphans_allowed + planted(drops["health/medical_institution"], CREDIT_KINDS)


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_drop_and_the_world_is_stable_across_nights(catalogue, tmp_path):
    first = write_demo_data(catalogue, tmp_path / "a" / "landing", tmp_path / "a" / "var", DAY, rows=300)
    again = write_demo_data(catalogue, tmp_path / "b" / "landing", tmp_path / "b" / "var", DAY, rows=300)
    for one, two in zip(first, again, strict=True):
        assert one.defects == two.defects and one.rows == two.rows
        pd.testing.assert_frame_equal(read_drop(catalogue, one.dataset, one), read_drop(catalogue, two.dataset, two))
        if one.path.suffix == ".csv":
            assert one.path.read_bytes() == two.path.read_bytes()
    other_seed = write_demo_data(catalogue, tmp_path / "c" / "landing", tmp_path / "c" / "var", DAY, rows=300,
                                 seed=7)
    key = "public_security/resident_population"
    base = read_drop(catalogue, key, next(d for d in first if d.dataset == key))
    assert not base.equals(read_drop(catalogue, key, next(d for d in other_seed if d.dataset == key)))
    next_night = write_demo_data(catalogue, tmp_path / "a" / "landing", tmp_path / "a" / "var",
                                 DAY + datetime.timedelta(days=1), rows=300)
    later = read_drop(catalogue, key, next(d for d in next_night if d.dataset == key))
    clean = set(base["id_number"][base["id_number"].map(id_is_valid).astype(bool)])
    assert len(clean & set(later["id_number"])) > 0.9 * len(clean)
    assert pd.to_datetime(later["updated_at"]).max() > pd.to_datetime(base["updated_at"]).max()


def test_workbooks_beyond_the_excel_row_limit_are_split_and_stale_parts_removed(catalogue, tmp_path, monkeypatch):
    import governance_demo.writers as demo_writers

    key = "human_resources/social_insurance_enrollment"
    monkeypatch.setattr(demo_writers, "EXCEL_MAX_ROWS", 60)
    drops = {d.dataset: d for d in write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=300)}
    split = drops[key]
    assert len(split.files) == -(-split.rows // 60) >= 2 and split.path == split.files[0]
    assert split.files[1].name == "social_insurance_enrollment_20261128_2.xlsx"
    parts = read_drop(catalogue, key, split)
    assert len(parts) == split.rows
    listed = json.loads((split.path.parent / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    sheet = catalogue.dataset(key).source.sheet
    assert [entry["rows"] for entry in listed] == [len(files.read_excel(path, sheet=sheet)) for path in split.files]
    monkeypatch.undo()
    (whole,) = [d for d in write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY, rows=300)
                if d.dataset == key]
    assert sorted(whole.path.parent.iterdir()) == sorted([whole.path, whole.path.parent / "MANIFEST.json"])
    assert whole.files == (whole.path,)
    pd.testing.assert_frame_equal(read_drop(catalogue, key, whole), parts)


def test_a_large_population_is_generated(catalogue, tmp_path):
    drops = {d.dataset: d for d in write_demo_data(catalogue, tmp_path / "landing", tmp_path / "var", DAY,
                                                   rows=200_000)}
    population = drops["public_security/resident_population"]
    frame = read_drop(catalogue, population.dataset, population)
    assert len(frame) == population.rows == 200_000 + population.defects["duplicate_key"] // 2
    reasons = resident_id_reasons(frame["id_number"], today=DAY)
    assert reasons.notna().sum() == planted(population, ID_KINDS)
    valid = frame["id_number"][reasons.isna()]
    assert valid.nunique() == 200_000 - planted(population, ID_KINDS)
    assert drops["human_resources/social_insurance_enrollment"].rows > 90_000
    assert drops["market_regulation/enterprise_registration"].rows > 49_000


def test_every_person_dataset_has_rare_character_and_minority_names(catalogue, demo):
    """生僻字 of Extension A (two bytes in GB 18030) and B to G (four bytes), and minority names written with several
    separator dots, in every dataset with a name column; the GBK-declared drop holds them as GB 18030 bytes."""
    _, drops, frames = demo
    person_datasets = [key for key in frames if any(c.element.domain.validator == "person_name"
                                                    for c in catalogue.columns(catalogue.dataset(key)))]
    assert len(person_datasets) == 4
    for key in person_datasets:
        column = next(c.name for c in catalogue.columns(catalogue.dataset(key))
                      if c.element.domain.validator == "person_name")
        names = set(frames[key][column].dropna())
        assert {"刘䶮", "郑龴", "王𠀀", "陈𪚥", "张𪜀", "赵𫝀", "孙𫠠", "周𬺰", "吴𰀀"} <= names, key
        minority = {name for name in names if any(dot in name for dot in "·•・.．‧")}
        dots = {dot for name in minority for dot in "·•・.．‧" if dot in name}
        assert len(minority) >= 6 and len(dots - {SEPARATOR}) >= 3, (key, dots)
        assert set(normalise_separators(pd.Series(sorted(minority)))[0].str.count(SEPARATOR)) == {1}, key
    raw = drops["market_regulation/enterprise_registration"].path.read_bytes()
    assert "𠀀".encode("gb18030") in raw and "吴𰀀".encode("gb18030") in raw  # four-byte sequences
    assert "刘䶮".encode("gb18030") in raw and b"\xfe\x59" in raw  # two-byte: Extension A, U+9FB4 (2022 mapping)
