"""Fuzz tests of every reader through the command line: the promise for bad input holds.

Each reader's valid input (a Darknet cfg and weights, a model file (converted and directly trained),
an image, a recordings file, a neuron file, a synapse file, a run file, Gen1 event and box files) is mutated by
hypothesis (bytes flipped, truncated, inserted; lines
dropped, repeated, swapped; numbers replaced by 0, -1, NaN, inf, huge values; HDF5 attributes,
groups and datasets deleted or replaced, with and without the content checksum) and fed to the
real command that reads it (``convert``, ``detect``, ``decode``, ``check``) in this process.
Every case must end in success, or in exactly one line ``brainyolo: error: ...`` with exit
status 2, within a time limit, with no traceback and nothing written. The cases are derandomized:
CI runs the same cases every time; ``BRAINYOLO_FUZZ_SCALE=10`` runs ten times as many new ones, and
``BRAINYOLO_FUZZ_LOG=FILE`` appends every case's command, exit status and message to FILE.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_promise, convert_argv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.codegen_independent

# ------------------------------------------------------------------------------------------ mutations

SPECIAL_NUMBERS = ["0", "-1", "-7", "nan", "inf", "-inf", "1e308", "99999999999", "3.5", "", "x", "1,2",
                   "9**9**9", "0x10", "1e-320"]



byte_edits = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
                                st.floats(0, 1, allow_nan=False), st.integers(0, 255)), min_size=1, max_size=4)


def mutate_bytes(data: bytes, edits) -> bytes:
    buffer = bytearray(data)
    for op, where, value in edits:
        i = min(int(where * len(buffer)), max(len(buffer) - 1, 0))
        if op == "truncate":
            del buffer[i:]
        elif not buffer:
            buffer.append(value)
        elif op == "flip":
            buffer[i] ^= 1 << (value % 8)
        elif op == "set":
            buffer[i] = value
        elif op == "insert":
            buffer[i:i] = bytes([value]) * (1 + value % 7)
        else:
            del buffer[i:i + 1 + value % 16]
    return bytes(buffer)


line_edits = st.lists(st.tuples(st.sampled_from(["drop", "repeat", "swap", "number", "value", "garbage", "utf8"]),
                                st.floats(0, 1, allow_nan=False), st.sampled_from(SPECIAL_NUMBERS)),
                      min_size=1, max_size=4)


def mutate_text(text: str, edits) -> bytes:
    import re

    lines = text.splitlines()
    tail = b""
    for op, where, special in edits:
        if not lines:
            lines = [special]
        i = min(int(where * len(lines)), len(lines) - 1)
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == "number":
            numbers = list(re.finditer(r"-?\d+(\.\d+)?", lines[i]))
            if numbers:
                m = numbers[int(where * 997) % len(numbers)]
                lines[i] = lines[i][:m.start()] + special + lines[i][m.end():]
        elif op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            quoted = '"' in lines[i]
            lines[i] = f'{key}= "{special}"' if quoted else f"{key}={special}"
        elif op == "garbage":
            lines.insert(i, "][=\"'{}" + special)
        elif op == "utf8":
            tail = b"\xff\xfe\xc3"
    return "\n".join(lines).encode() + tail


HDF5_SPECIALS = [np.nan, np.inf, -1, 0, 10**9, "text", np.array([1, 2, 3]), np.zeros((0,)), np.float64(2.5), True]

h5_edits = st.lists(st.tuples(st.sampled_from(["del_attr", "set_attr", "del_node", "set_data", "reshape", "nan"]),
                              st.floats(0, 1, allow_nan=False), st.integers(0, len(HDF5_SPECIALS) - 1)),
                    min_size=1, max_size=3)


def dump_hdf5(path: Path) -> list:
    """Everything in an HDF5 file as comparable text (independent of brainyolo's checksum code)."""
    def entry(name, node):
        attrs = sorted((k, repr(np.asarray(v).tolist())) for k, v in node.attrs.items() if k != "content_sha256")
        data = repr(np.asarray(node[()]).tolist()) + str(node.dtype) if isinstance(node, h5py.Dataset) else None
        return name, attrs, data

    with h5py.File(path, "r") as f:
        items = [entry("/", f)]
        f.visititems(lambda name, node: items.append(entry(name, node)))
    return items


def mutate_hdf5(path: Path, edits, keep_checksum: bool) -> bool:
    """Change an HDF5 file through h5py: attributes, groups and datasets deleted or replaced.

    Returns whether the content changed (the checksum's own removal aside).
    """
    before = dump_hdf5(path)
    with h5py.File(path, "r+") as f:
        if not keep_checksum and "content_sha256" in f.attrs:
            del f.attrs["content_sha256"]
        for op, where, which in edits:
            names: list[str] = []
            f.visit(names.append)
            nodes = [f] + [f[name] for name in names]
            node = nodes[int(where * len(nodes)) % len(nodes)]
            special = HDF5_SPECIALS[which]
            attrs = sorted(k for k in node.attrs if k != "content_sha256")
            if op == "del_attr" and attrs:
                del node.attrs[attrs[which % len(attrs)]]
            elif op == "set_attr" and attrs:
                node.attrs[attrs[which % len(attrs)]] = special
            elif op == "del_node" and node.name != "/":
                del f[node.name]
            elif isinstance(node, h5py.Dataset) and op in ("set_data", "reshape", "nan"):
                data = node[()]
                name = node.name
                del f[name]
                if op == "nan" and np.asarray(data).dtype.kind == "f" and np.size(data):
                    data = np.array(data)
                    data.flat[which % data.size] = np.nan
                elif op == "reshape":
                    data = np.asarray(data).ravel()[: max(np.size(data) - 1, 0)]
                else:
                    data = special
                f.create_dataset(name, data=data, dtype=h5py.string_dtype() if isinstance(data, str) else None)
    return dump_hdf5(path) != before


def fresh_copy(source: Path, folder: Path, data: bytes | None = None) -> Path:
    target = folder / source.name
    if data is None:
        shutil.copy(source, target)
    else:
        target.write_bytes(data)
    return target


SCALE = int(os.environ.get("BRAINYOLO_FUZZ_SCALE", "1"))
"""Cases per test are multiplied by this; above 1 the cases are also new on every run (a longer hunt)."""


def fuzz(examples: int) -> settings:
    """Hypothesis settings for ``examples`` cases (times :data:`SCALE`), the same cases every run at scale 1."""
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------ readers


@fuzz(40)
@given(edits=line_edits)
def test_fuzz_cfg_through_convert(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "model.cfg"
        cfg.write_bytes(mutate_text(corpus["cfg"].read_text(), edits))
        out = tmp / "out" / "model.h5"
        assert_promise(convert_argv(corpus, out, cfg=cfg), out)


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_weights_through_convert(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = fresh_copy(corpus["weights"], tmp, mutate_bytes(corpus["weights"].read_bytes(), edits))
        out = tmp / "out" / "model.h5"
        assert_promise(convert_argv(corpus, out, weights=weights), out)


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_model_bytes_through_detect(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = fresh_copy(corpus["model"], tmp, mutate_bytes(corpus["model"].read_bytes(), edits))
        out = tmp / "out"
        assert_promise(["detect", str(model), str(corpus["images"][0]), "-q", "-o", str(out)], out)


@fuzz(60)
@given(edits=h5_edits, keep_checksum=st.booleans())
def test_fuzz_model_structure_through_detect(corpus, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = fresh_copy(corpus["model"], tmp)
        changed = mutate_hdf5(model, edits, keep_checksum)
        out = tmp / "out"
        code = assert_promise(["detect", str(model), str(corpus["images"][0]), "-q", "-o", str(out)], out)
        if keep_checksum and changed:
            assert code == 2  # every change of content is caught by the checksum


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_image_through_detect(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = fresh_copy(corpus["images"][1], tmp, mutate_bytes(corpus["images"][1].read_bytes(), edits))
        out = tmp / "out"
        assert_promise(["detect", str(corpus["model"]), str(image), "-q", "-o", str(out)], out)


@fuzz(30)
@given(edits=byte_edits)
def test_fuzz_recordings_bytes_through_decode(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        run.mkdir()
        source = corpus["run"] / "recordings.h5"
        fresh_copy(source, run, mutate_bytes(source.read_bytes(), edits))
        out = tmp / "out"
        assert_promise(["decode", str(run), "--model", str(corpus["model"]), "-q", "-o", str(out)], out)


@fuzz(60)
@given(edits=h5_edits, keep_checksum=st.booleans())
def test_fuzz_recordings_structure_through_decode(corpus, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        run.mkdir()
        changed = mutate_hdf5(fresh_copy(corpus["run"] / "recordings.h5", run), edits, keep_checksum)
        out = tmp / "out"
        code = assert_promise(["decode", str(run), "--model", str(corpus["model"]), "-q", "-o", str(out)], out)
        if keep_checksum and changed:
            assert code == 2


@fuzz(60)
@given(edits=line_edits)
def test_fuzz_neuron_file_through_check(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        neuron = Path(tmp) / "neuron.toml"
        neuron.write_bytes(mutate_text(corpus["neuron"].read_text(), edits))
        assert_promise(["check", str(neuron)])


@fuzz(40)
@given(edits=line_edits)
def test_fuzz_synapse_file_through_check(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        synapse = Path(tmp) / "synapse.toml"
        synapse.write_bytes(mutate_text(corpus["synapse"].read_text(), edits))
        assert_promise(["check", str(synapse)])


@fuzz(60)
@given(edits=line_edits)
def test_fuzz_run_file_through_check(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        run_file = Path(tmp) / "run.toml"
        run_file.write_bytes(mutate_text(corpus["run_file"].read_text(), edits))
        assert_promise(["check", str(run_file)])


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_event_file_through_check(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        td = fresh_copy(corpus["td"], Path(tmp), mutate_bytes(corpus["td"].read_bytes(), edits))
        assert_promise(["check", str(td)])


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_box_file_through_check(corpus, edits):
    with tempfile.TemporaryDirectory() as tmp:
        bbox = fresh_copy(corpus["bbox"], Path(tmp), mutate_bytes(corpus["bbox"].read_bytes(), edits))
        assert_promise(["check", str(bbox)])


@fuzz(40)
@given(edits=h5_edits, keep_checksum=st.booleans())
def test_fuzz_direct_model_structure_through_check(corpus, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        model = fresh_copy(corpus["direct_model"], Path(tmp))
        changed = mutate_hdf5(model, edits, keep_checksum)
        code = assert_promise(["check", str(model)])
        if keep_checksum and changed:
            assert code == 2  # every change of content is caught by the checksum
