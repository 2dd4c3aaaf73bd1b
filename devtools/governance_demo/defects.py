"""Real-world defects planted in a demo drop, so the validation rules have something to find.

Defects are injected per element (ID, credit code, mobile, code tables, required columns), one per
affected row, and counted by kind in rows the pipeline quarantines (a duplicated key counts both rows);
the counts are what the tests and the demo compare quarantine with.
A spreadsheet drop also gets cells typed as numbers in ID and code columns (``NUMBER_CELLS`` names the column
for the writer), which the pipeline quarantines as ``numeric_cell``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from governance.identifiers import credit_code_check_character
from governance.standards.catalogue import ResolvedColumn
from governance_demo.world import TEXT, USCC_ALPHABET, World

_RIC_CHECK = "10X98765432"
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
NUMBER_CELLS = "_number_cells"  # per row, the column the writer stores as a number cell (spreadsheets only)
NUMBER_CELL_KINDS = ("id_number_cell", "code_number_cell")
_DEFECTIVE_ID_KINDS = ("id_bad_check_character", "id_lowercase_x", "id_full_width_digits",
                       "id_surrounding_spaces", "id_scientific_notation", "id_legacy_15_digit", "id_17_characters")


class Defects:
    """Plant realistic defects (domain.md), one per affected row, spread over the kinds that apply."""

    def __init__(self, world: World, columns: list[ResolvedColumn], rng: np.random.Generator, *,
                 spreadsheet: bool = False):
        self.world, self.columns, self.rng, self.spreadsheet = world, columns, rng, spreadsheet

    def plan(self) -> list[tuple[str, str]]:
        """(kind, column) pairs; kinds that only fit some rows come first so others absorb shortfalls."""
        restricted: list[tuple[str, str]] = []
        open_: list[tuple[str, str]] = []
        has_id = any(c.element.domain.validator == "resident_id" for c in self.columns)
        for column in self.columns:
            domain, name = column.element.domain, column.name
            if domain.validator == "resident_id":
                restricted += [(kind, name) for kind in ("id_lowercase_x", "id_scientific_notation",
                                                         "id_legacy_15_digit")]
                open_ += [(kind, name) for kind in _DEFECTIVE_ID_KINDS if (kind, name) not in restricted]
            elif domain.validator == "credit_code":
                target = restricted if not column.required else open_
                target += [("credit_code_bad_check_character", name), ("credit_code_bad_organization_code", name)]
            elif domain.validator == "mobile":
                restricted += [("mobile_country_prefix", name), ("mobile_separators", name)]
            elif domain.code_table == "gender":
                open_.append(("gender_unknown_code", name))
                if has_id:
                    open_.append(("gender_id_mismatch", name))
            elif domain.code_table == "ethnicity":
                restricted.append(("ethnicity_unknown_code", name))
            elif domain.code_table == "division":
                open_.append(("region_code_unknown", name))
            elif column.element.key == "birth_date":
                open_.append(("birth_date_future", name))
        if any(c.required and not c.primary_key for c in self.columns):
            open_.append(("required_missing", ""))
        if self.spreadsheet:  # typed into Excel as numbers: an ID of 18 digits, a code of digits
            for column in self.columns:
                if column.element.domain.validator == "resident_id":
                    restricted.append(("id_number_cell", column.name))
                elif column.element.domain.code_table:
                    restricted.append(("code_number_cell", column.name))
        order = self.rng.permutation(len(restricted))
        return [restricted[i] for i in order] + [open_[i] for i in self.rng.permutation(len(open_))]

    def inject(self, frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, dict[str, int]]:
        n = len(frame)
        total = min(round(share * n), n // 2) if share > 0 else 0
        plan = self.plan()
        counts: dict[str, int] = {}
        used = np.zeros(n, dtype=bool)
        if total and plan:
            quotas = np.full(len(plan), total // len(plan))
            quotas[self.rng.choice(len(plan), total % len(plan), replace=False)] += 1
            carry, order = 0, self.rng.permutation(n)
            for (kind, name), quota in zip(plan, quotas, strict=True):
                want = int(quota) + carry
                eligible = ~used & (self._eligible(kind, frame[name]) if name else True)
                rows = order[eligible[order]][:want]
                carry = want - len(rows)
                if len(rows):
                    self._apply(frame, kind, name, rows)
                    used[rows] = True
                    counts[kind] = counts.get(kind, 0) + len(rows)
        if share > 0 and n >= 2:
            frame, copies = self._duplicate(frame, used)
            counts["duplicate_key"] = 2 * copies  # the pipeline quarantines the original row and its copy
        return frame, counts

    @staticmethod
    def _eligible(kind: str, values: pd.Series) -> np.ndarray:
        present = values.notna().to_numpy()
        if kind == "id_lowercase_x":
            return present & values.str.endswith("X").fillna(False).to_numpy(dtype=bool)
        if kind == "id_scientific_notation":
            return present & values.str.fullmatch(r"\d{18}").fillna(False).to_numpy(dtype=bool)
        if kind == "id_legacy_15_digit":  # 15-digit numbers were issued to people born in the 1900s
            return present & values.str.slice(6, 8).eq("19").fillna(False).to_numpy(dtype=bool)
        if kind in NUMBER_CELL_KINDS:  # an X, or a code of letters, keeps Excel from taking the cell as a number
            return present & values.str.fullmatch(r"[0-9]+").fillna(False).to_numpy(dtype=bool)
        return present

    def _apply(self, frame: pd.DataFrame, kind: str, name: str, rows: np.ndarray) -> None:
        rng = self.rng
        if kind == "required_missing":
            required = [c.name for c in self.columns if c.required and not c.primary_key]
            for column, chunk in zip(required, np.array_split(rng.permutation(rows), len(required)), strict=True):
                frame.loc[chunk, column] = None
            return
        values = frame.loc[rows, name].to_numpy(dtype=object)
        if kind == "region_code_unknown":
            new = self.world.div.unknown_codes(rng, len(rows))
        elif kind == "birth_date_future":
            new = np.datetime_as_string(np.datetime64(self.world.day, "D") + rng.integers(1, 3650, len(rows)),
                                        unit="D")
        elif kind in NUMBER_CELL_KINDS:  # what the number keeps: 15 significant digits, no leading zero
            new = [str(round(int(v), 15 - len(str(int(v))))) for v in values]
            if NUMBER_CELLS not in frame.columns:
                frame[NUMBER_CELLS] = pd.Series(pd.NA, index=frame.index, dtype=TEXT)
            frame.loc[rows, NUMBER_CELLS] = name
        elif kind == "credit_code_bad_organization_code":
            first16 = pd.Series([v[:16] for v in values], dtype=TEXT)
            wrong = [str(rng.choice([c for c in "0123456789X" if c != v[16]])) for v in values]
            first17 = first16 + pd.Series(wrong, dtype=TEXT)
            new = (first17 + credit_code_check_character(first17).astype(TEXT)).to_numpy(dtype=object)
        else:
            new = [_CHANGE[kind](str(value), rng) for value in values]
        frame.loc[rows, name] = list(new)

    def _duplicate(self, frame: pd.DataFrame, used: np.ndarray) -> tuple[pd.DataFrame, int]:
        """One or two clean rows exported twice (a resend appended to the night's file)."""
        clean = np.flatnonzero(~used)
        copies = self.rng.choice(clean, min(len(clean), 1 + int(self.rng.random() < 0.5)), replace=False)
        positions = np.sort(self.rng.integers(0, len(frame) + 1, len(copies)))
        index = np.insert(np.arange(len(frame)), positions, copies)
        return frame.iloc[index].reset_index(drop=True), len(copies)


def _wrong_id_check(value: str, rng: np.random.Generator) -> str:
    return value[:17] + _RIC_CHECK[(_RIC_CHECK.index(value[17]) + int(rng.integers(1, 11))) % 11]


def _wrong_credit_check(value: str, rng: np.random.Generator) -> str:
    return value[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(value[17]) + int(rng.integers(1, 31))) % 31]


_CHANGE: dict[str, Callable[[str, np.random.Generator], str]] = {
    "id_bad_check_character": _wrong_id_check,
    "id_lowercase_x": lambda v, rng: v[:17] + "x",
    "id_full_width_digits": lambda v, rng: v.translate(_FULL_WIDTH),
    "id_surrounding_spaces": lambda v, rng: [f" {v}", f"{v} ", f"\t{v}", f" {v} "][rng.integers(4)],
    "id_scientific_notation": lambda v, rng: f"{float(v):.5E}",  # Excel's display: 3.30106E+17
    "id_legacy_15_digit": lambda v, rng: v[:6] + v[8:17],
    "id_17_characters": lambda v, rng: v[:17],
    "mobile_country_prefix": lambda v, rng: ["+86", "+86 ", "86"][rng.integers(3)] + v,
    "mobile_separators": lambda v, rng: (f"{v[:3]}-{v[3:7]}-{v[7:]}", f"{v[:3]} {v[3:7]} {v[7:]}")[rng.integers(2)],
    "gender_unknown_code": lambda v, rng: "3",
    "gender_id_mismatch": lambda v, rng: {"1": "2", "2": "1"}.get(v, "1"),
    "ethnicity_unknown_code": lambda v, rng: "99",
    "credit_code_bad_check_character": _wrong_credit_check,
}
