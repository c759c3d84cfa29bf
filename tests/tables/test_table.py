from mcverify.tables.schema import COLUMNS, to_frame

# The documentation's column tables are generated from COLUMNS: tests/test_docs.py.


def test_column_order_puts_parameters_after_identity():
    row = {c: 0 for c in COLUMNS if c != "config"}
    row["param:p.std"] = 1.0
    frame = to_frame([row], "cfg")
    assert list(frame.columns[:9]) == [*list(COLUMNS)[:8], "param:p.std"]
    assert frame["config"].item() == "cfg"
