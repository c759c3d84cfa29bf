from pathlib import Path

from mcverify.tables.schema import COLUMNS, to_frame

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_documents_every_column():
    for column, meaning in COLUMNS.items():  # a '|' inside a Markdown table cell is written '\|'
        assert f"| `{column}` | {meaning.replace('|', chr(92) + '|')} |" in README, column


def test_column_order_puts_parameters_after_identity():
    row = {c: 0 for c in COLUMNS if c != "config"}
    row["param:p.std"] = 1.0
    frame = to_frame([row], "cfg")
    assert list(frame.columns[:9]) == [*list(COLUMNS)[:8], "param:p.std"]
    assert frame["config"].item() == "cfg"
