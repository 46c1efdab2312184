"""crm_csv passes the connector contract suite (attain.testing.contract) on a sample of the
bundled data set: the first 60 pipeline rows and the whole roster, accounts and products.

A CSV export has no high-water mark (every import reads the whole folder: ``incremental`` is
False) and expresses a deleted opportunity as a row of stage ``Deleted``."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from attain.plugins import crm_csv
from attain.testing.contract import ConnectorContract

BUNDLED = Path(__file__).resolve().parents[1] / "core" / "data" / "crm-sales-opportunities"
ROWS = 60


class TestCrmCsvContract(ConnectorContract):
    connector = "crm-csv"
    batch_size = 25

    @pytest.fixture
    def attain_plugins_under_test(self) -> dict[str, object]:
        return {"crm_csv": crm_csv}

    def make_source(self, directory: Path) -> Path:
        for name in crm_csv.FILES[1:]:
            shutil.copy(BUNDLED / name, directory / name)
        with (BUNDLED / "sales_pipeline.csv").open(encoding="utf-8", newline="") as f:
            lines = f.readlines()[:ROWS + 1]
        (directory / "sales_pipeline.csv").write_text("".join(lines), encoding="utf-8")
        return directory

    def delete_record(self, source: Path) -> str:
        path = source / "sales_pipeline.csv"
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        won = next(r for r in rows if r["deal_stage"] == "Won")
        won["deal_stage"] = "Deleted"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return won["opportunity_id"]
