"""Inline ``points:`` lists (issue 17): the scanner that reads generated lists must give exactly
what the YAML loader gives (the same points, or the same error with the same line), take on
the shapes generated lists have, and keep every bound of the loader."""

from __future__ import annotations

import functools
import hashlib
import json
import random

import pytest
from clihelp import invoke, write_spec

from superbatch.errors import SpecError
from superbatch.plan.identity import POINTS_CHUNK, _sha, spec_sha
from superbatch.plan.points import Grid
from superbatch.spec import yamlsource
from superbatch.spec.load import load_spec, parse_spec
from superbatch.spec.sequences import PointList

HEAD = "name: x\nworker: {command: c}\n"


def plain(data):
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, (list, PointList)):
        return [plain(v) for v in data]
    return data


def load(path, general: bool):
    """(data, source) by the loader as commands use it, or by the general way alone."""
    if not general:
        return yamlsource.load_yaml(path)
    raw = path.read_bytes()
    with yamlsource._no_gc():
        return yamlsource._load_general(
            yamlsource.decode_text(raw, path), path, hashlib.sha256(raw).hexdigest()
        )


def outcome(path, general: bool):
    """What loading and validating says: the points, or the error (with its lines)."""
    try:
        data, source = load(path, general)
    except SpecError as exc:
        return "error", str(exc)
    try:
        spec = parse_spec(dict(data), path, source)
    except SpecError as exc:
        return "invalid", plain(data), str(exc)
    return "valid", plain(data), [dict(p) for p in Grid(spec)]


def scanned(path) -> bool:
    data, _ = yamlsource.load_yaml(path)
    return isinstance(data, dict) and isinstance(data.get("points"), PointList)


def same_both_ways(tmp_path, text: str, name: str = "job.yaml"):
    path = write_spec(tmp_path, text, name)
    fast, general = outcome(path, False), outcome(path, True)
    assert fast == general, text
    return path, fast


VALUES = [
    "1", "-1", "0", "-0", "012", "0x1F", "0o17", "1_000", "1.5", "-1.5", "1.", "1.5e-3",
    "1.5e3", "1e-05", "1.0e+5", ".5", "-.5", "+1", "+1.5", "1:30", "2024-01-02",
    "2024-01-02 10:00:00", "~", "null", "Null", "NULL", "yes", "Yes", "YES", "YeS", "on", "On",
    "off", "true", "True", "false", "y", "n", "Y", "N", "abc", "a-b", "a.b", "a/b", "_x", "x_",
    '"q"', "'s'", "'it''s'", '"a\\tb"', '"é"', "café", ".inf", "-.inf", ".nan", '""', "''",
    "a b", "'#'", '"a # b"', "a#b", "[1, 2]", "{a: 1}", "!!str 5", "!!int '7'",
    "123456789012345678901234567890",
]  # fmt: skip

CASES = {
    "flow": "points:\n  - {seed: 1, x: a}\n  - {seed: 5, x: b}\n",
    "flow_at_column_0": "points:\n- {seed: 1, x: a}\n- {seed: 5, x: b}\ntasks: {max_retries: 1}\n",
    "yaml_dump_style": "points:\n- alpha: 0.0\n  seed: 0\n- alpha: 1.0e-05\n  seed: 1\n",
    "block_indented": "points:\n    - a: 1\n      b: yes\n    - a: 2\n      b: No\n",
    "every_scalar": "points:\n" + "".join(f"  - {{v: {v}}}\n" for v in VALUES),
    "every_scalar_block": "points:\n" + "".join(f"  - v: {v}\n    w: 1\n" for v in VALUES),
    "keys": "points:\n  - {\"seed\": 1, 'x': a}\n  - {yes: 1}\n  - {null: 2}\n  - {1: 3}\n",
    "comments": "points:  # the list\n  # one\n  - {a: 1}  # one\n\n  - {a: 2}\n# x\n  - {a: 3}\n",
    "keys_change": "points:\n  - {a: 1}\n  - {b: 2}\n  - {a: 3, b: 4}\n  - {b: 5, a: 6}\n",
    "other_shapes": "points:\n  - {a: [1, 2]}\n  - {a: 3}\n  - 5\n  - [1, 2]\n  -\n    a: 9\n"
    "  - {a: {b: 1}}\n  - {}\n  - a: |\n      text\n    b: 1\n  - {a: 4}\n",
    "more_keys_below": "points:\n  - a: 1\n    b: 2\n  - a: 3\n    b: 4\n    c: 5\n  - a: 6\n    b: 7\n",
    "longer_value": "points:\n  - a: 1\n    b: foo\n      bar\n  - a: 2\n    b: x\n",
    "flow_over_lines": "points:\n  - {a: 1,\n     b: 2}\n  - {a: 3, b: 4}\n",
    "quoted_over_lines": 'points:\n  - {a: "x\n  - y"}\n  - {a: 3}\n',
    "anchors": "points:\n  - &p {a: 1}\n  - *p\n",
    "alias_from_elsewhere": "globals: &g {a: 1}\npoints:\n  - *g\n  - {a: 2}\n",
    "merge": "base: &b {x: 1}\npoints:\n  - {<<: *b, a: 1}\n",
    "not_last": "points:\n  - {a: 1}\ncollect: {reduce: sum}\n",
    "inside_block_scalar": "globals:\n  text: |\n    points:\n    - {a: 1}\npoints:\n  - {a: 1}\n",
    "flow_list": "points: [{a: 1}, {a: 2}]\n",
    "empty": "points:\n",
    "no_final_newline": "points:\n  - {a: 1}\n  - {a: 2}",
    "no_final_newline_block": "points:\n- a: 1\n  b: 2",
    "tab_in_string": 'points:\n  - {a: "x\ty"}\n',
    "line_separator_in_string": 'points:\n  - {a: "x\u2028y"}\n  - {a: 2}\n',
    "document_markers": "---\nname: x\nworker: {command: c}\npoints:\n  - {a: 1}\n...\n",
    "spaces": "points:   \n  - {  a  :   1  ,   b :  2  }   \n  - a: 2   \n    b: 3  \n",
    "colon_in_value": "points:\n  - {a: b:c}\n  - a: b:c\n",
    "big_int": "points:\n  - {a: 123456789012345678901234567890}\n  - {a: 1}\n",
    "mixed_column": "points:\n  - {a: 1}\n  - {a: 1.5}\n  - {a: x}\n  - {a: null}\n",
    # errors: the same message, the same line
    "duplicate_key": "points:\n  - {a: 1}\n  - {a: 1, a: 2}\n",
    "duplicate_key_block": "points:\n  - a: 1\n    a: 2\n",
    "points_twice": "points:\n  - {a: 1}\npoints:\n  - {a: 2}\n",
    "indent_deeper": "points:\n  - {a: 1}\n    - {a: 2}\n",
    "indent_shallower": "points:\n    - {a: 1}\n  - {a: 2}\n",
    "syntax_in_points": "points:\n  - {a: 1}\n  - {a: ]}\n  - {a: 3}\n",
    "syntax_after_points": "points:\n  - {a: 1}\ncollect: [unclosed\n",
    "second_document": "points:\n  - {a: 1}\n---\nb: 1\n",
    "control_character": 'points:\n  - {a: "x\x01y"}\n',
    "non_scalar_key": "points:\n  - {[1]: 2}\n  - ? [a, b]\n    : 1\n",
    "nested_too_deep": "points:\n  - {a: " + "[" * 70 + "]" * 70 + "}\n",
    "nested_900": "points:\n  - {a: " + "[" * 900 + "]" * 900 + "}\n",
    "not_a_mapping": "points:\n  - {a: 1}\n  - 5\n  - [1]\n  -\n",
    "points_and_parameters": "parameters: {x: [1]}\npoints:\n  - {a: 1}\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_scanner_reads_what_the_loader_reads(tmp_path, name):
    same_both_ways(tmp_path, HEAD + CASES[name])


@pytest.mark.parametrize(
    "name", ["flow", "flow_at_column_0", "yaml_dump_style", "block_indented", "every_scalar",
             "every_scalar_block", "comments", "keys_change", "other_shapes", "more_keys_below",
             "no_final_newline", "spaces", "big_int", "mixed_column", "inside_block_scalar"],
)  # fmt: skip
def test_generated_shapes_are_scanned(tmp_path, name):
    assert scanned(write_spec(tmp_path, HEAD + CASES[name]))


def test_crlf_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_bytes(("\ufeff" + HEAD + CASES["yaml_dump_style"]).replace("\n", "\r\n").encode())
    assert outcome(path, False) == outcome(path, True) and scanned(path)


def _random_spec(rng: random.Random) -> str:
    indent = " " * rng.choice([0, 2, 4])
    keys = ["a", "b", "seed", "x_1", '"q"', "'k'", "yes", "null", "1", "a-b", '"a b"']
    groups = [rng.sample(keys, rng.randint(1, 3)) for _ in range(3)]
    lines = [HEAD + "points:"]
    for _ in range(rng.randint(1, 30)):
        group = rng.choice(groups)
        values = [rng.choice(VALUES if rng.random() < 0.3 else VALUES[:14]) for _ in group]
        if rng.random() < 0.05:
            lines.append(indent + "  # note")
        if rng.random() < 0.05:
            lines.append("")
        if rng.random() < 0.5:
            pairs = ", ".join(f"{k}: {v}" for k, v in zip(group, values))
            lines.append(f"{indent}- {{{pairs}}}" + (" # c" if rng.random() < 0.1 else ""))
        else:
            for j, (k, v) in enumerate(zip(group, values)):
                lines.append(indent + ("- " if j == 0 else "  ") + f"{k}: {v}")
    if rng.random() < 0.5:
        lines.append("tasks: {max_retries: 1}")
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


def test_random_lists_read_alike(tmp_path):
    rng = random.Random(17)
    scans = 0
    for _ in range(150):
        path, _ = same_both_ways(tmp_path, _random_spec(rng))
        scans += scanned(path) if outcome(path, False)[0] != "error" else 0
    assert scans > 60  # most of them took the scanner's way


# -- at scale -------------------------------------------------------------------------------


@functools.cache
def big_list(count: int, tail: str = "", block: bool = False) -> str:
    if block:
        body = "".join(f"- seed: {i}\n  alpha: {i / count!r}\n" for i in range(count))
    else:
        body = "".join(f"  - {{seed: {i}, alpha: {i / count!r}}}\n" for i in range(count))
    return HEAD + "tasks: {points_per_task: auto}\npoints:\n" + body + tail


@pytest.fixture(scope="module")
def hundred_thousand(tmp_path_factory):
    path = write_spec(tmp_path_factory.mktemp("big"), big_list(100_000))
    return path, load_spec(path)


def test_a_hundred_thousand_points_in_order(hundred_thousand):
    path, spec = hundred_thousand
    grid = Grid(spec)
    assert len(grid) == 100_000
    assert isinstance(spec.model.points, PointList)
    assert list(grid.points(0, 3)) == [
        {"seed": 0, "alpha": 0.0},
        {"seed": 1, "alpha": "1e-05"},  # YAML 1.1: a float needs a dot; this is a string
        {"seed": 2, "alpha": "2e-05"},
    ]
    assert list(grid.points(99_998)) == [
        {"seed": 99_998, "alpha": 0.99998},
        {"seed": 99_999, "alpha": 0.99999},
    ]
    assert sum(p["seed"] for p in grid) == sum(range(100_000))
    assert spec.source.position(("points", 54_321)) == (54_321 + 5, 3)


@pytest.mark.parametrize(
    "tail, words",
    [
        ("  - 5\n", ["line 100005: points[100000]: Input should be a valid dictionary"]),
        ("  - {seed: 1, 7: 2}\n", ["line 100005: points[100000][7].[key]"]),
        ("  - seed: 1\n    when: [2024-01-02]\n", ["line 100006: points.100000.when.0: a date"]),
        ("  - {seed: 1, seed: 2}\n", ["line 100005: duplicate key 'seed' (first given on line 100005)"]),
        ("  - {seed: ]}\n", ["line 100005, column 12: YAML syntax error"]),
        ("  - {a: " + "[" * 70 + "]" * 70 + "}\n", ["line 100005: nested more than 64 levels"]),
        ("collect: {reduce: summ}\n", ["line 100005: collect.reduce", "did you mean 'sum'?"]),
    ],
)  # fmt: skip
def test_errors_at_the_end_of_a_long_list_name_their_line(tmp_path, tail, words):
    text = big_list(100_000, tail)
    if "when" in tail:
        text = text.replace("worker: {command: c}", "worker: {command: c, format: json}")
    path = write_spec(tmp_path, text)
    result = invoke("validate", path)
    assert result.code == 2, result
    assert result.stderr.startswith("error: ") and "\nerror: " not in result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert f"{path}, {word}" in result.stderr or word in result.stderr, (word, result.stderr)


def test_a_long_list_the_loader_reads_names_lines_too(tmp_path):
    """A list the scanner does not take (here: an anchor) goes the general way, which records
    no position below a long list and finds one when an error needs it."""
    text = big_list(5_000).replace("points:\n", "globals: &g {seed: -1}\npoints:\n  - *g\n")
    path = write_spec(tmp_path, text + "  - 5\n")
    assert not scanned(path)
    _, source = yamlsource.load_yaml(path)
    assert ("points", 10) not in source.positions  # not recorded...
    assert source.position(("points", 4_321)) == (4_321 + 6, 5)  # ...found
    assert "line 5007: points[5001]: Input should be a valid dictionary" in str(
        pytest.raises(SpecError, load_spec, path).value
    )


def test_a_long_parameter_list_names_the_line_of_a_value(tmp_path):
    values = "".join(f"    - {i}\n" for i in range(3_000)) + "    - 2024-01-02\n"
    text = "name: x\nworker: {command: c, format: json}\nparameters:\n  x:\n" + values
    result = invoke("validate", write_spec(tmp_path, text))
    assert result.code == 2 and "line 3005: parameters.x.3000: a date" in result.stderr


def test_an_alias_bomb_in_the_points_is_refused_at_once(tmp_path):
    bomb = "".join(
        f"    {c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    )
    text = HEAD + "points:\n  - {seed: 1}\n  - a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + bomb
    path = write_spec(tmp_path, text)
    assert len(path.read_bytes()) < 1000
    with pytest.raises(SpecError, match="expands to more than 20,000,000 values"):
        load_spec(path)


def test_scanned_and_loaded_points_are_the_same_job(tmp_path):
    """The identity digests the points a chunk at a time: the digest of the whole, and the
    same whichever way the points were read."""
    count = POINTS_CHUNK * 2 + 7
    path = write_spec(
        tmp_path, big_list(count).replace("  - {seed: 3,", "  - {when: 2024-01-02, seed: 3,")
    )
    spec = load_spec(path)
    whole = _sha(spec.model.model_dump(mode="json", exclude={"collect", "backend"}))
    assert spec_sha(spec) == whole
    data, source = load(path, general=True)
    assert spec_sha(parse_spec(data, path, source)) == whole


def test_json_workers_and_the_job_record_see_plain_points(tmp_path):
    text = big_list(1_000).replace("worker: {command: c}", "worker: {command: c, format: json}")
    spec = load_spec(write_spec(tmp_path, text))
    dumped = json.loads(spec.model.model_dump_json())["points"]
    assert dumped[:2] == [{"seed": 0, "alpha": 0.0}, {"seed": 1, "alpha": 0.001}]
    assert len(dumped) == 1_000
    assert invoke("validate", spec.path).code == 0


# -- PointList ----------------------------------------------------------------------------


def test_point_list_is_a_sequence_of_new_dicts():
    from array import array

    points = PointList(
        [(("a", "b"), [array("q", [1, 2, 3]), ["x", "y", "z"]]), [{"c": 1}], (("a",), [[4.5]])]
    )
    assert len(points) == 5
    assert list(points) == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 3, "b": "z"},
        {"c": 1},
        {"a": 4.5},
    ]
    assert points[1] == {"a": 2, "b": "y"} and points[-1] == {"a": 4.5}
    assert points[1:4] == list(points)[1:4] and points[::2] == list(points)[::2]
    assert list(points.iter(2, 4)) == list(points)[2:4]
    assert points == list(points) and points != list(points)[:-1]
    points[0]["a"] = 99  # a new dict each time: the spec's points cannot be changed
    assert points[0]["a"] == 1
    with pytest.raises(IndexError):
        points[5]
    assert points.json_problem(("points",)) is None
    bad = PointList([(("a",), [array("d", [1.0, float("inf")])])])
    assert bad.json_problem(("points",)) == (("points", 1, "a"), "inf is not a JSON number")


def test_points_read_back_from_json_are_held_as_columns():
    rows = [{"a": i, "b": i / 3} for i in range(100)] + [{"a": 1}, {"a": "x", "b": True}]
    rows += [{"c": 2**70}] * 70 + [{"d": None}] * 80
    points = PointList.from_rows(rows)
    assert list(points) == rows and isinstance(points._segments[0], tuple)
    assert PointList.from_rows([{"a": True}] * 100)[5] == {"a": True}  # not 1
    assert type(PointList.from_rows([{"a": True}] * 100)[5]["a"]) is bool


def test_an_anchor_given_twice_is_refused_as_the_loader_refuses_it(tmp_path):
    """Regression: points the scanner hands to the loader a run at a time were composed per
    run, so an anchor given twice (in two runs) passed; the loader refuses it in one file."""
    points = "".join(
        f"  - {{n: {v}}}\n" for v in ["1", "&a 2", "*a", "3", "x", "4", "&a 5", "*a", "6"]
    )
    path, result = same_both_ways(tmp_path, HEAD + "points:\n" + points)
    assert result[0] == "error", result
    assert (
        "line 10, column 9: YAML syntax error: an anchor (&name) given a second time (first on line 5)"
        in result[1]
    )


def test_a_long_run_of_points_the_scanner_does_not_take_is_read_a_run_at_a_time(tmp_path):
    """The loader reads at most ODD_RUN such points at a time (its nodes cost memory); the
    points are the same as read whole, also the scanned ones after the runs."""
    from superbatch.spec.pointscan import ODD_RUN

    odd = "".join(f"  - {{a: [{i}, 2]}}\n" for i in range(ODD_RUN * 2 + 5))
    plain_points = "".join(f"  - {{a: {i}}}\n" for i in range(10))
    path, fast = same_both_ways(tmp_path, HEAD + "points:\n" + odd + plain_points)
    assert fast[0] == "valid" and len(fast[2]) == ODD_RUN * 2 + 15
    assert fast[2][ODD_RUN] == {"a": [ODD_RUN, 2]} and fast[2][-1] == {"a": 9}
    assert scanned(path)
