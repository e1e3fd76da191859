"""Dataset loaders: both formats become Records; bad rows name their file and line."""

from __future__ import annotations

import json

import pytest

from shelfgraph.eval.datasets import known_attributes, load_records, parse_oa_mine, parse_wdc_pave, record_to_product

OA = {"input": "Folgers Classic Roast Ground Coffee, 30.5 oz", "category": "Coffee",
      "target_scores": {"Brand": {"Folgers": 1}, "Net content": {"30.5 oz": 1}}}
WDC = {"id": 7, "cluster_id": 1.0, "category": "Jewelry", "input_title": "Benchmark band LCF15018KW",
       "input_description": "A 14k gold band.", "url": "x",
       "target_scores": {"Brand": {"Benchmark": {"pid": [0], "score": 1}},
                         "Metal": {"14k gold": {"pid": [1], "score": 1}}, "Size": {"n/a": 1}}}


def test_oa_mine_record_and_product():
    [record] = parse_oa_mine([json.dumps(OA)], "oa/train.jsonl")
    assert (record.id, record.category, record.gold) == ("train:1", "Coffee", {"Brand": ["Folgers"], "Net content": ["30.5 oz"]})
    product = record_to_product(record)
    assert (product.product_type, product.attributes["Brand"], product.source) == ("Coffee", ["Folgers"], "oa/train.jsonl:1")


def test_wdc_pave_keeps_na_and_parts():
    [record] = parse_wdc_pave([json.dumps(WDC)], "wdc/test.jsonl")
    assert record.gold == {"Brand": ["Benchmark"], "Metal": ["14k gold"], "Size": None}
    assert record.parts == {"Brand": {"Benchmark": ["title"]}, "Metal": {"14k gold": ["description"]}}
    assert record.description == "A 14k gold band." and record.id == "7"
    assert "Size" not in record_to_product(record).attributes
    assert known_attributes([record]) == {"Jewelry": ["Brand", "Metal", "Size"]}


def test_load_records_detects_format(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(WDC) + "\n\n" + json.dumps(WDC) + "\n")
    assert [r.source for r in load_records(path)] == [f"{path}:1", f"{path}:3"]


@pytest.mark.parametrize("line, message", [
    ("{not json", r"bad\.jsonl:2: not valid JSON"),
    (json.dumps({"input": "x", "category": "C"}), r"bad\.jsonl:2: field 'target_scores'"),
    (json.dumps({**OA, "target_scores": {"Brand": "Folgers"}}), r"bad\.jsonl:2: target_scores\['Brand'\]"),
])
def test_bad_rows_name_file_and_line(line, message):
    with pytest.raises(ValueError, match=message):
        parse_oa_mine([json.dumps(OA), line], "bad.jsonl")
