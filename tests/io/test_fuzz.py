"""Fuzz tests of every reader through the command line: the promise for bad input holds, and no
change of data goes unnoticed.

Each reader's valid input (a Darknet cfg and weights, a model file (converted and directly trained),
an image, a recordings file, a neuron file, a synapse file, a run file, Gen1 event and box files) is mutated by
hypothesis (bytes flipped, truncated, inserted; lines
dropped, repeated, swapped; numbers replaced by 0, -1, NaN, inf, huge values; HDF5 attributes,
groups and datasets deleted or replaced, with and without the content checksum) and fed to the
real command that reads it (``convert``, ``detect``, ``decode``, ``check``) in this process.
Every case must end in success, or in exactly one line ``brainyolo: error: ...`` with exit
status 2, within a time limit, with no traceback and nothing written.

Beyond that promise, every case has an expected outcome (:data:`EXPECTATIONS`), decided by reading the
mutated input independently of brainyolo's readers (a small reader of Darknet's cfg format, numpy on the
weights layout, h5py, tomllib, PIL, numpy on the DAT and .npy layouts): rejected; or accepted with the
unmutated input's output (the mutation changed nothing the reader uses); or rejected or accepted with an
output that shows the change (a weight, a threshold, a pixel, a time stamp is never silently dropped or
replaced by a default). The outputs compared: the converted model's content (its time stamp and the
input files' checksums aside), the detections (every box, ``--threshold 0``) and ``check``'s summary line,
which must be the one the independent reading gives.

The cases are derandomized: CI runs the same cases every time; ``BRAINYOLO_FUZZ_SCALE=10`` runs ten times
as many new ones, and ``BRAINYOLO_FUZZ_LOG=FILE`` appends every case's command, exit status and message to
FILE.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import convert_argv, promised_outcome, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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


def mutate_hdf5(path: Path, edits, keep_checksum: bool) -> None:
    """Change an HDF5 file through h5py: attributes, groups and datasets deleted or replaced (the content
    checksum removed unless ``keep_checksum``)."""
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


# ------------------------------------------------------------------------------------------ expectations

REJECTED = "rejected"
"""Exit status 2, one line ``brainyolo: error: FILE: ...`` naming the mutated file, nothing written."""

SAME = "same"
"""Exit status 0 and the unmutated input's output: nothing the reader reads changed."""

UNUSED = "unused"
"""Rejected, or accepted with the unmutated input's output: only something the command does not use
changed (a reader may still refuse it: a wrong type, an unknown key)."""

CHANGED = "changed"
"""Rejected, or accepted with an output that shows the change: different from the unmutated input's; for
``check``, the summary line that the independent reading of the mutated file gives."""

ANY = "any"
"""The promise only: an input whose meaning the formats leave open (a cfg key given twice with different
values: Darknet's reader takes the first, brainyolo's the last; a TOML file that became another kind)."""

EXPECTATIONS: dict[str, dict[str, str]] = {
    # line edits of FUZZ_CFG through convert. drop: a blank line -> same; a key -> its Darknet default (same
    # meaning when the value was the default, else changed); a section header -> its keys join the section
    # above. repeat: a key line -> same; a header -> a new section of defaults (changed). swap: two keys of a
    # section -> same; across a header -> changed; [net] below a key -> malformed. number / value: the
    # value changed (pad=N only asks for padding: any non-zero N means the same; [yolo] num is the anchor
    # count Darknet reads, data like any other). garbage: ``][=...`` is a key Darknet ignores (same
    # meaning) or a key before [net] (malformed). utf8: not UTF-8.
    "cfg": {"not UTF-8": REJECTED, "malformed": REJECTED, "a key twice with different values": ANY,
            "same sections and keys": SAME, "same meaning": UNUSED, "changed": CHANGED},
    # byte edits of the weights through convert. insert / delete / truncate, and a header version whose
    # 'seen' counter has another size: the length no longer fits the cfg. flip / set: the header's version
    # and 'seen' (kept in the model's provenance) or a parameter changed; rarely a batch-norm parameter
    # whose change the float32 folding absorbs.
    "weights": {"same bytes": SAME, "wrong length": REJECTED, "same folded parameters": UNUSED,
                "changed": CHANGED},
    # byte edits of an HDF5 file (model through detect, recordings through decode): the content checksum
    # refuses every change of content; bytes HDF5 does not read (free space) change nothing.
    "hdf5 bytes": {"same content": SAME, "unreadable": REJECTED, "content changed": REJECTED},
    # HDF5 edits of the model through detect (the ANN). del_attr / set_attr / del_node / set_data / reshape /
    # nan: with the checksum kept, every change of content is refused; without it (an older file) a change
    # of /network must show in the detections or be refused; /calibration, /provenance and the root
    # attributes are not read by the ANN; the same number written as another type (True for 1) or a
    # max-pool padding that gives the same windows means the same network.
    "model structure": {"same content": SAME, "changed, checksum kept": REJECTED, "not read": UNUSED,
                        "same meaning": UNUSED, "changed": CHANGED},
    # HDF5 edits of the recordings through decode (vmem read-out): as for the model; the read-out reads the
    # output layer's V, the checkpoints, the image sizes and names, and what says how to decode (input,
    # output, normalization, schedule, delays, the model's checksum), not the hidden layers' spikes or how
    # the run was made (device, neuron and synapse names, connectivity, the model's old path).
    "recordings structure": {"same content": SAME, "changed, checksum kept": REJECTED, "not read": UNUSED,
                             "same meaning": UNUSED, "changed": CHANGED},
    # HDF5 edits of the directly trained model through check: the summary (layers, T, neuron, framework)
    # is the one h5py reads, or the file is refused.
    "direct model structure": {"same content": SAME, "changed, checksum kept": REJECTED,
                               "no valid summary": REJECTED, "changed": CHANGED},
    # byte edits of a PNG through detect: most break a chunk's CRC or the compressed stream (PIL refuses
    # the image); pixels that change the network input must change the detections.
    "image": {"undecodable": REJECTED, "same pixels": SAME, "same network input": UNUSED, "changed": CHANGED},
    # line edits of a TOML file (neuron, synapse, run) through check: repeat makes a key twice (not TOML),
    # garbage is not TOML, utf8 is not UTF-8; drop / swap / number / value change the table: the summary
    # (kind, parameter names, target; run name, configurations, steps) is the table's.
    "toml": {"not TOML": REJECTED, "same table": SAME, "another kind of file": ANY,
             "no valid summary": REJECTED, "changed": CHANGED},
    # byte edits of a Gen1 DAT file through check (the layout in brainyolo.io.gen1's docstring): the header's
    # '%' lines (Width, Height), the event type and size bytes, 8-byte events; an edit in the header may
    # leave it unreadable or change the sensor; in the events it moves, re-times or re-polarizes one.
    "td": {"not DAT": REJECTED, "invalid events": REJECTED, "header unclear": ANY, "same events": SAME,
           "changed": CHANGED},
    # byte edits of a Gen1 .npy box file through check: the .npy header (dtype, shape) or a box's fields.
    "bbox": {"not a box array": REJECTED, "invalid boxes": REJECTED, "same boxes": SAME, "changed": CHANGED},
}
"""What every mutation must produce: per input, per finding of the independent reading of the mutated
input (the comments say which edits lead to which findings), the expected outcome."""

ORDER = (SAME, UNUSED, CHANGED)


def combined(verdicts) -> str:
    """The outcome of several changes at once: the strictest (same < unused < changed)."""
    return max(verdicts, key=ORDER.index, default=SAME)


def run_case(argv: list[str], mutated: Path, output: Path | None = None) -> tuple[int, str]:
    """``brainyolo ARGV`` on a mutated input: the promise (success, or one line ``brainyolo: error: FILE: ...``
    naming the ``mutated`` file or another input it contradicts, exit status 2, no traceback, nothing written
    to ``output``); (exit status, stdout)."""
    named = {mutated.name} | {Path(a).name for a in argv[1:] if Path(a).is_file()}  # or the input it contradicts
    code, stdout, _ = promised_outcome(argv, output, named)
    return code, stdout


def assert_outcome(verdict: str, code: int, output, original, expected=None) -> None:
    """The case's outcome is the expected one (:data:`EXPECTATIONS`).

    ``output``: what the command made (None when it failed); ``original``: what it makes of the unmutated
    input; ``expected``: for ``check``, the summary the independent reading of the mutated input gives.
    """
    shown = repr(output)[:300]
    if verdict == REJECTED:
        assert code == 2, f"accepted, but expected to be rejected: {shown}"
    elif verdict == SAME:
        assert code == 0, "rejected, but nothing the reader reads changed"
        assert output == original, "accepted with another output, but nothing the reader reads changed"
    elif verdict == UNUSED:
        assert code == 2 or output == original, "accepted with another output, but only unread content changed"
    elif verdict == CHANGED:
        if expected is not None:
            assert code == 2 or output == expected, f"accepted as {shown}, but the file says {expected!r}"
        else:
            assert code == 2 or output != original, "accepted with the unmutated input's output: a change was lost"
    else:
        assert verdict == ANY, verdict


# ------------------------------------------------------------------------------------------ independent readings

CFG_DEFAULTS = {"net": {}, "maxpool": {"stride": "1"}, "yolo": {"classes": "20", "num": "1"},
                "convolutional": {"filters": "1", "size": "1", "stride": "1", "pad": "0", "padding": "0",
                                  "activation": "logistic", "batch_normalize": "0"}}
"""Darknet's defaults (parser.c) for the keys of FUZZ_CFG's sections; a max-pool's size defaults to its
stride and its padding to size - 1, a [yolo] mask to every anchor."""

CFG_KEYS = {"net": {"width", "height", "channels"}, "maxpool": {"size", "stride", "padding"},
            "yolo": {"mask", "anchors", "classes", "num"}, "convolutional": set(CFG_DEFAULTS["convolutional"])}
"""The keys Darknet reads in those sections (FUZZ_CFG's own: others are ignored, as Darknet does)."""


def cfg_meaning(name: str, options: dict[str, str]):
    """A section as Darknet understands it: known keys with defaults filled in, ``pad`` resolved."""
    if name not in CFG_KEYS:
        return name, tuple(sorted(options.items()))
    values = {**CFG_DEFAULTS[name], **{k: v for k, v in options.items() if k in CFG_KEYS[name]}}

    def whole(text):
        try:
            return int(text)
        except ValueError:
            return None

    if name == "convolutional":  # pad=N (N != 0) asks for size // 2, whatever padding says
        pad, padding, size = values.pop("pad"), values.pop("padding"), whole(values["size"])
        values["padding"] = (padding if whole(pad) == 0 else str(size // 2) if whole(pad) is not None
                             and size is not None else f"pad={pad}, padding={padding}")
    elif name == "maxpool":
        values.setdefault("size", values["stride"])
        size = whole(values["size"])
        values.setdefault("padding", str(size - 1) if size is not None else f"size={values['size']} - 1")
    elif name == "yolo" and "mask" not in values:
        num = whole(values["num"])
        values["mask"] = ",".join(map(str, range(num))) if num is not None else f"all of num={values['num']}"
    return name, tuple(sorted(values.items()))


def read_cfg(data: bytes) -> tuple[str, list | None, list | None]:
    """Darknet's reading of cfg bytes: (finding, sections as written, sections as meant).

    As Darknet's reader: every whitespace character is removed from a line; blank lines and lines
    starting with ``#`` or ``;`` are skipped; ``[name]`` opens a section, ``key=value`` sets an option
    of the open section; the first section is ``[net]``.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8", None, None
    written, conflict = [], False
    for raw in text.splitlines():
        line = "".join(raw.split())
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]" and len(line) > 2:
            written.append((line[1:-1], {}))
        elif line[0] != "[" and "=" in line and written:
            key, value = line.split("=", 1)
            conflict |= written[-1][1].get(key, value) != value
            written[-1][1][key] = value
        else:
            return "malformed", None, None
    if not written or written[0][0] != "net":
        return "malformed", None, None
    if conflict:
        return "a key twice with different values", None, None
    return "parsed", written, [cfg_meaning(name, options) for name, options in written]


def cfg_finding(data: bytes, original: bytes) -> str:
    finding, written, meant = read_cfg(data)
    if finding != "parsed":
        return finding
    _, written_before, meant_before = read_cfg(original)
    return "same sections and keys" if written == written_before else "same meaning" if meant == meant_before \
        else "changed"


WEIGHTS_LAYOUT = ((4, 3, 3, True), (12, 4, 1, False))
"""FUZZ_CFG's convolutions in weights-file order: (filters, input channels, size, batch-normalized)."""


def read_weights(data: bytes):
    """Darknet's weights layout read with numpy: (major, minor, revision, seen) and the parameters with
    batch-norm folded as OpenCV's importer does (``scale / sqrt(var + 1e-6)``, in float64, then float32);
    None where the length does not fit FUZZ_CFG."""
    if len(data) < 12:
        return None
    major, minor, revision = (int(v) for v in np.frombuffer(data, "<i4", 3))
    seen_bytes = 8 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 4
    count = sum(f * (4 if bn else 1) + f * c * k * k for f, c, k, bn in WEIGHTS_LAYOUT)
    if len(data) != 12 + seen_bytes + 4 * count:
        return None
    seen = int.from_bytes(data[12:12 + seen_bytes], "little")
    values = np.frombuffer(data, "<f4", count, 12 + seen_bytes).astype(np.float64)
    offset = 0

    def take(n: int) -> np.ndarray:
        nonlocal offset
        offset += n
        return values[offset - n:offset]

    folded = []
    with np.errstate(all="ignore"):
        for f, c, k, bn in WEIGHTS_LAYOUT:
            bias = take(f)
            if bn:
                scale, mean, variance = take(f), take(f), take(f)
            weight = take(f * c * k * k).reshape(f, c, k, k)
            if bn:
                gain = scale / np.sqrt(variance + 1e-6)
                weight, bias = weight * gain[:, None, None, None], bias - gain * mean
            folded.append(weight.astype(np.float32).tobytes() + bias.astype(np.float32).tobytes())
    return (major, minor, revision, seen), folded


def weights_finding(data: bytes, original: bytes) -> str:
    if data == original:
        return "same bytes"
    read = read_weights(data)
    if read is None:
        return "wrong length"
    return "same folded parameters" if read == read_weights(original) else "changed"


def hdf5_content(source) -> dict | None:
    """Everything in an HDF5 file (a path or bytes), read with h5py alone: {(node, attribute or None):
    (dtype, shape and values (their bytes' digest) as text, value)}; None if h5py cannot read all of it."""
    def entry(value):
        array = np.asarray(value)
        values = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() if array.dtype.kind in "biufc" \
            else repr(array.tolist())
        return f"{array.dtype.str}{array.shape}{values}", value

    content = {}

    def walk(node, name: str) -> None:  # by name, as a reader reaches them (not every object HDF5 stores)
        content[name, None] = entry(node[()]) if isinstance(node, h5py.Dataset) else ("group", None)
        for key in node.attrs:
            content[name, key] = entry(node.attrs[key])
        if isinstance(node, h5py.Group):
            for key in node:
                walk(node[key], key if name == "/" else f"{name}/{key}")

    try:
        with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
            walk(f, "/")
    except Exception:  # noqa: BLE001 - whatever h5py raises on a broken file, it is unreadable
        return None
    return content


def hdf5_bytes_finding(data: bytes, original: bytes) -> str:
    content = hdf5_content(data)
    if content is None:
        return "unreadable"
    return "same content" if not changed_entries(hdf5_content(original), content, checksum=True) else "content changed"


def changed_entries(before: dict, after: dict, checksum: bool = False) -> list:
    """The (node, attribute) entries whose content differs (the content checksum too if ``checksum``)."""
    return [key for key in sorted(set(before) | set(after), key=str)
            if (checksum or key != ("/", "content_sha256")) and before.get(key, ("",))[0] != after.get(key, ("",))[0]]


def same_number(before, after) -> bool:
    """Both entries are the same number(s), perhaps of another type (True for 1, [-1] for -1)."""
    if before is None or after is None:
        return False
    a, b = np.atleast_1d(np.asarray(before[1])), np.atleast_1d(np.asarray(after[1]))
    return a.dtype.kind in "biuf" and b.dtype.kind in "biuf" and a.shape == b.shape and bool(np.all(a == b))


POOL_INPUT_SIDE = 16
"""FUZZ_CFG's max-pool reads the 16x16 map of its first convolution."""


def pool_windows(after: dict, node: str):
    """A Darknet max-pool's windows along one side: (output length, offset), from its attributes."""
    try:
        size, stride, pad = (int(np.asarray(after[node, key][1]).item()) for key in ("size", "stride", "pad"))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return ((POOL_INPUT_SIDE + pad - size) // stride + 1, pad // 2) if stride > 0 else None


def model_entry_finding(key, before: dict, after: dict) -> str:
    """What a change of one model-file entry is to the ANN (detect)."""
    node, attribute = key
    if not node.startswith("network"):
        return "not read"  # /calibration (the SNN's), /provenance, the root's attributes
    if same_number(before.get(key), after.get(key)):
        return "same meaning"
    if attribute == "pad" and after.get((node, "kind"), ("", ""))[1] == "MaxPool" \
            and pool_windows(before, node) == pool_windows(after, node) is not None:
        return "same meaning"
    return "changed"


RUN_DESCRIPTION = {"time_step_ms", "model_file", "neuron", "synapse", "connectivity", "device"}
"""Root attributes of a recordings file that say how the run was made (decode with --model reads none)."""

RUN_DEFAULTS = {"schedule", "parameters"}
"""Root attributes whose absence means what the corpus run had (delayed schedule, no synaptic delays)."""


def recordings_entry_finding(key, before: dict, after: dict) -> str:
    """What a change of one recordings entry is to the vmem read-out (decode)."""
    node, attribute = key
    if node.startswith("images/") and "/layers" in node:
        return "not read"  # the hidden layers' spikes: analysis only
    if node == "/" and (attribute in RUN_DESCRIPTION or attribute in RUN_DEFAULTS and key not in after):
        return "not read"
    return "same meaning" if same_number(before.get(key), after.get(key)) else "changed"


def structure_verdict(before: dict, after: dict, keep_checksum: bool, entry_finding, table: str) -> str:
    """The expected outcome of HDF5 edits (``table`` of :data:`EXPECTATIONS`): that of the strictest change."""
    changed = changed_entries(before, after)
    if not changed:  # with or without the checksum (a file without one reads as an older file)
        return EXPECTATIONS[table]["same content"]
    if keep_checksum:
        return EXPECTATIONS[table]["changed, checksum kept"]
    return combined(EXPECTATIONS[table][entry_finding(key, before, after)] for key in changed)


def direct_model_summary(content: dict) -> str | None:
    """``check``'s summary of a directly trained model file as h5py reads it (an older file may lack the
    framework); None if it has no valid one."""
    layers = sum(1 for node, attribute in content if attribute is None and re.fullmatch(r"network/layers/\d+", node))
    spiking = {attribute: value for (node, attribute), (_, value) in content.items() if node == "spiking" and attribute}
    steps, neuron, framework = spiking.get("time_steps"), spiking.get("neuron"), spiking.get("framework", "")
    if not (isinstance(steps, (int, np.integer)) and not isinstance(steps, (bool, np.bool_)) and 0 < steps <= 10**6
            and isinstance(neuron, str) and isinstance(framework, str)):
        return None
    return f"model file, {layers} layers, directly trained SNN (T = {steps}, {neuron}, {framework})"


def read_pixels(data: bytes) -> np.ndarray | None:
    """An image's RGB pixels as PIL decodes them, None if it cannot."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except Exception:  # noqa: BLE001 - PIL raises many kinds on broken files
        return None


def image_finding(data: bytes, original: bytes) -> str:
    from brainyolo.ann.letterbox import letterbox

    pixels, before = read_pixels(data), read_pixels(original)
    if pixels is None:
        return "undecodable"
    if pixels.shape == before.shape and np.array_equal(pixels, before):
        return "same pixels"
    if pixels.shape == before.shape:  # the network sees the letterboxed image: some pixels may not reach it
        network = [letterbox(p.astype(np.float32) / 255, 16, 16)[0] for p in (pixels, before)]
        if np.array_equal(*network):
            return "same network input"
    return "changed"


def read_toml(data: bytes) -> dict | None:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - UnicodeDecodeError, TOMLDecodeError, RecursionError
        return None


def neuron_summary(table: dict):
    """``check``'s summary of a neuron file: None for another kind of file, "" for no valid summary."""
    parameters, events = table.get("parameters", {}), table.get("events", {})
    if not isinstance(table.get("model"), str) or "threshold" not in table or "target" in table:
        return None
    if not isinstance(parameters, dict) or not isinstance(events, dict):
        return ""
    return f"neuron model{' (signed)' if 'negative_spike' in events else ''}, parameters {', '.join(parameters)}"


def synapse_summary(table: dict):
    """``check``'s summary of a synapse file: None for another kind of file, "" for no valid summary."""
    parameters = table.get("parameters", {})
    if not isinstance(table.get("model"), str) or "threshold" in table or not isinstance(table.get("target"), str):
        return None
    if not isinstance(parameters, dict):
        return ""
    return f"synapse model (into {table['target']}), parameters {', '.join([*parameters, 'delay', 'release', 'seed'])}"


def run_summary(table: dict):
    """``check``'s summary of a run file written as ``run.toml``: its name (default the file's), its
    configurations (one per combination of the [grid] lists) and its steps (default 1000)."""
    if "model" in table and isinstance(table.get("model"), str):
        return None
    simulation, grid = table.get("simulation", {}), table.get("grid", {})
    if not isinstance(simulation, dict):
        return ""
    name, steps = table.get("name", "run"), simulation.get("steps", 1000)
    if not (isinstance(name, str) and isinstance(steps, int) and not isinstance(steps, bool) and isinstance(grid, dict)
            and all(isinstance(v, list) and v for v in grid.values())):
        return ""
    return f"run file {name!r}, {math.prod(len(v) for v in grid.values())} configurations x {steps} steps"


def toml_finding(data: bytes, original: bytes, summary) -> tuple[str, str | None]:
    """(finding, the summary ``check`` must print if it accepts the file)."""
    table = read_toml(data)
    if table is None:
        return "not TOML", None
    expected = summary(table)
    if repr(table) == repr(read_toml(original)):  # in order: the summary lists the parameters as written
        return "same table", expected
    if expected is None:
        return "another kind of file", None
    return ("no valid summary", None) if expected == "" else ("changed", expected)


def read_td(data: bytes) -> tuple[str, str | None, bytes]:
    """(finding, ``check``'s summary, the sensor and events) of a Gen1 DAT file by its documented layout:
    ``%`` header lines with ``Width W`` and ``Height H``, the event type (0) and size (8) bytes, then 8-byte
    little-endian words: time (bits 0-31), x (32-45), y (46-59), polarity (60-63)."""
    sides, offset = {}, 0
    while data[offset:offset + 1] == b"%":
        end = data.find(b"\n", offset)
        if end < 0:
            return "not DAT", None, b""
        words = data[offset + 1:end].split()
        if words and words[0].lower() in (b"width", b"height"):
            if len(words) != 2 or not words[1].isdigit():
                return "header unclear", None, b""
            sides[words[0].lower()] = int(words[1])
        elif any(w.lower() in (b"width", b"height") for w in words):
            return "header unclear", None, b""
        offset = end + 1
    width, height = sides.get(b"width", 0), sides.get(b"height", 0)
    body = data[offset + 2:]
    if offset == 0 or not (0 < width <= 2**14 and 0 < height <= 2**14) or data[offset:offset + 2] != bytes([0, 8]) \
            or len(body) % 8:
        return "not DAT", None, b""
    word = np.frombuffer(body, "<u8").astype(np.uint64)
    t, x, y, p = (((word >> np.uint64(shift)) & np.uint64(mask)).astype(np.int64)
                  for shift, mask in ((0, 2**32 - 1), (32, 2**14 - 1), (46, 2**14 - 1), (60, 15)))
    if np.any(x >= width) or np.any(y >= height) or np.any(p > 1) or np.any(np.diff(t) < 0):
        return "invalid events", None, b""
    span = f", {t[0]}..{t[-1]} us" if len(t) else ""
    return ("parsed", f"Gen1 events (Prophesee DAT), {width}x{height} sensor, {len(t)} events{span}",
            np.stack([t, x, y, p]).tobytes() + bytes(f"{width}x{height}", "ascii"))


def td_finding(data: bytes, original: bytes) -> tuple[str, str | None]:
    finding, summary, events = read_td(data)
    if finding != "parsed":
        return finding, None
    return ("same events" if events == read_td(original)[2] else "changed"), summary


def read_bbox(data: bytes) -> tuple[str, str | None]:
    """(finding, ``check``'s summary) of a Gen1 box file: a 1-D structured .npy array with the fields ts
    (us, uint64), x, y, w, h (float32; finite, w and h positive), class_id, confidence, track_id."""
    try:
        boxes = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # noqa: BLE001 - numpy's header parser raises many kinds
        return "not a box array", None
    fields = ("ts", "x", "y", "w", "h", "class_id", "confidence", "track_id")
    if boxes.dtype.names is None or set(fields) - set(boxes.dtype.names) or boxes.ndim != 1:
        return "not a box array", None
    try:
        with np.errstate(all="ignore"):
            xywh = np.stack([boxes[k].astype(np.float32).astype(np.float64) for k in ("x", "y", "w", "h")], axis=1)
            times = boxes["ts"].astype(np.uint64)
    except (TypeError, ValueError):  # fields that are not numbers
        return "invalid boxes", None
    if len(boxes) and (not np.all(np.isfinite(xywh)) or np.any(xywh[:, 2:] <= 0)):
        return "invalid boxes", None
    return "parsed", f"Gen1 boxes, {len(boxes)} boxes at {len(set(times.tolist()))} times"


def bbox_finding(data: bytes, original: bytes) -> tuple[str, str | None]:
    finding, summary = read_bbox(data)
    if finding != "parsed":
        return finding, None

    def values(raw: bytes) -> str:
        boxes = np.load(io.BytesIO(raw), allow_pickle=False)
        return repr((boxes.dtype.descr, boxes.tolist()))

    return ("same boxes" if values(data) == values(original) else "changed"), summary


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


# ------------------------------------------------------------------------------------------ outputs

VOLATILE = {("/", "created_utc"), ("provenance", "cfg_sha256"), ("provenance", "weights_sha256")}
"""Entries of a converted model that differ between conversions of the same data (the time, the input
files' checksums)."""


def model_content(path: Path) -> dict:
    """A converted model's content as h5py reads it, :data:`VOLATILE` and the content checksum aside."""
    content = hdf5_content(path)
    return {key: text for key, (text, _) in content.items() if key not in VOLATILE | {("/", "content_sha256")}}


def detections(out: Path) -> dict:
    """Every JSON file a command wrote into ``out`` (detections.json, checkpoints/), parsed."""
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.rglob("*.json"))}


def detect_argv(model: Path, image: Path, out: Path) -> list[str]:
    return ["detect", str(model), str(image), "--threshold", "0", "-q", "-o", str(out)]


def decode_argv(run: Path, model: Path, out: Path) -> list[str]:
    return ["decode", str(run), "--model", str(model), "--threshold", "0", "-q", "-o", str(out)]


def check_line(path: Path, summary: str | None) -> str | None:
    return None if summary is None else f"{path}: ok: {summary}\n"


class Outputs(dict):
    """The outputs of the unmutated inputs, by command (named, not shown, in a failing case's report)."""

    def __repr__(self) -> str:
        return f"<outputs of the unmutated inputs: {', '.join(self)}>"


@pytest.fixture(scope="module")
def originals(corpus, tmp_path_factory) -> dict:
    """What the commands make of the unmutated inputs: the outputs the mutated inputs' are compared with."""
    root = tmp_path_factory.mktemp("fuzz-originals")
    made = Outputs()
    out = root / "convert" / "model.h5"
    assert run_cli(convert_argv(corpus, out))[0] == 0
    made["convert"] = model_content(out)
    for number, image in enumerate(corpus["images"]):
        assert run_cli(detect_argv(corpus["model"], image, root / f"detect{number}"))[0] == 0
        made[f"detect {image.name}"] = detections(root / f"detect{number}")
        assert made[f"detect {image.name}"]["detections.json"], "no box to compare"
    assert run_cli(decode_argv(corpus["run"], corpus["model"], root / "decode"))[0] == 0
    made["decode"] = detections(root / "decode")
    return made


# ------------------------------------------------------------------------------------------ readers


def test_independent_readings_agree_on_the_unmutated_inputs(corpus, originals):
    """What the independent readings say of a mutated input can be trusted: on the unmutated inputs they
    agree with brainyolo (the folded weights of the converted model, ``check``'s summary of every file)."""
    assert read_cfg(corpus["cfg"].read_bytes())[0] == "parsed"
    _, folded = read_weights(corpus["weights"].read_bytes())
    model = hdf5_content(corpus["model"])
    for layer, parameters in zip(("000", "002"), folded, strict=True):
        weight, bias = (model[f"network/layers/{layer}/{name}", None][1] for name in ("weight", "bias"))
        assert parameters == weight.astype(np.float32).tobytes() + bias.astype(np.float32).tobytes()
    summaries = {"neuron": neuron_summary(read_toml(corpus["neuron"].read_bytes())),
                 "synapse": synapse_summary(read_toml(corpus["synapse"].read_bytes())),
                 "run_file": run_summary(read_toml(corpus["run_file"].read_bytes())),
                 "td": read_td(corpus["td"].read_bytes())[1], "bbox": read_bbox(corpus["bbox"].read_bytes())[1],
                 "direct_model": direct_model_summary(hdf5_content(corpus["direct_model"]))}
    for key, summary in summaries.items():
        code, stdout, stderr = run_cli(["check", str(corpus[key])])
        assert code == 0 and stdout == check_line(corpus[key], summary), stdout + stderr


@fuzz(39)
@given(edits=line_edits)
@example(edits=[("number", 0.92, "3.5")])  # anchors=4,4, 8,3.5: accepted, another model
def test_fuzz_cfg_through_convert(corpus, originals, edits):
    original = corpus["cfg"].read_bytes()
    data = mutate_text(corpus["cfg"].read_text(), edits)
    verdict = EXPECTATIONS["cfg"][cfg_finding(data, original)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "model.cfg"
        cfg.write_bytes(data)
        out = tmp / "out" / "model.h5"
        code, _ = run_case(convert_argv(corpus, out, cfg=cfg), cfg, out)
        assert_outcome(verdict, code, model_content(out) if code == 0 else None, originals["convert"])


@fuzz(39)
@given(edits=byte_edits)
@example(edits=[("flip", 0.5, 3)])  # one weight changed: accepted, another model
def test_fuzz_weights_through_convert(corpus, originals, edits):
    original = corpus["weights"].read_bytes()
    data = mutate_bytes(original, edits)
    verdict = EXPECTATIONS["weights"][weights_finding(data, original)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = fresh_copy(corpus["weights"], tmp, data)
        out = tmp / "out" / "model.h5"
        code, _ = run_case(convert_argv(corpus, out, weights=weights), weights, out)
        assert_outcome(verdict, code, model_content(out) if code == 0 else None, originals["convert"])


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_model_bytes_through_detect(corpus, originals, edits):
    original = corpus["model"].read_bytes()
    data = mutate_bytes(original, edits)
    verdict = EXPECTATIONS["hdf5 bytes"][hdf5_bytes_finding(data, original)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = fresh_copy(corpus["model"], tmp, data)
        out = tmp / "out"
        code, _ = run_case(detect_argv(model, corpus["images"][0], out), model, out)
        assert_outcome(verdict, code, detections(out) if code == 0 else None, originals["detect img000.png"])


@fuzz(59)
@given(edits=h5_edits, keep_checksum=st.booleans())
@example(edits=[("set_attr", 0.55, 9)], keep_checksum=False)  # layer 0's leaky alpha = True (1.0): other boxes
def test_fuzz_model_structure_through_detect(corpus, originals, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = fresh_copy(corpus["model"], tmp)
        before = hdf5_content(model)
        mutate_hdf5(model, edits, keep_checksum)
        verdict = structure_verdict(before, hdf5_content(model), keep_checksum, model_entry_finding,
                                    "model structure")
        out = tmp / "out"
        code, _ = run_case(detect_argv(model, corpus["images"][0], out), model, out)
        assert_outcome(verdict, code, detections(out) if code == 0 else None, originals["detect img000.png"])


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_image_through_detect(corpus, originals, edits):
    original = corpus["images"][1].read_bytes()
    data = mutate_bytes(original, edits)
    verdict = EXPECTATIONS["image"][image_finding(data, original)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = fresh_copy(corpus["images"][1], tmp, data)
        out = tmp / "out"
        code, _ = run_case(detect_argv(corpus["model"], image, out), image, out)
        assert_outcome(verdict, code, detections(out) if code == 0 else None, originals["detect img001.png"])


@fuzz(30)
@given(edits=byte_edits)
def test_fuzz_recordings_bytes_through_decode(corpus, originals, edits):
    source = corpus["run"] / "recordings.h5"
    original = source.read_bytes()
    data = mutate_bytes(original, edits)
    verdict = EXPECTATIONS["hdf5 bytes"][hdf5_bytes_finding(data, original)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        run.mkdir()
        recordings = fresh_copy(source, run, data)
        out = tmp / "out"
        code, _ = run_case(decode_argv(run, corpus["model"], out), recordings, out)
        assert_outcome(verdict, code, detections(out) if code == 0 else None, originals["decode"])


@fuzz(60)
@given(edits=h5_edits, keep_checksum=st.booleans())
def test_fuzz_recordings_structure_through_decode(corpus, originals, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        run.mkdir()
        recordings = fresh_copy(corpus["run"] / "recordings.h5", run)
        before = hdf5_content(recordings)
        mutate_hdf5(recordings, edits, keep_checksum)
        verdict = structure_verdict(before, hdf5_content(recordings), keep_checksum, recordings_entry_finding,
                                    "recordings structure")
        out = tmp / "out"
        code, _ = run_case(decode_argv(run, corpus["model"], out), recordings, out)
        assert_outcome(verdict, code, detections(out) if code == 0 else None, originals["decode"])


def check_toml(source: Path, name: str, edits, summary) -> None:
    """A mutated TOML file through ``check``: refused, or summarized as tomllib reads it."""
    original = source.read_bytes()
    data = mutate_text(source.read_text(), edits)
    finding, expected = toml_finding(data, original, summary)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        code, stdout = run_case(["check", str(path)], path)
        assert_outcome(EXPECTATIONS["toml"][finding], code, stdout if code == 0 else None,
                       check_line(path, summary(read_toml(original))), check_line(path, expected))


@fuzz(60)
@given(edits=line_edits)
def test_fuzz_neuron_file_through_check(corpus, edits):
    check_toml(corpus["neuron"], "neuron.toml", edits, neuron_summary)


@fuzz(40)
@given(edits=line_edits)
def test_fuzz_synapse_file_through_check(corpus, edits):
    check_toml(corpus["synapse"], "synapse.toml", edits, synapse_summary)


@fuzz(60)
@given(edits=line_edits)
def test_fuzz_run_file_through_check(corpus, edits):
    check_toml(corpus["run_file"], "run.toml", edits, run_summary)


def check_bytes(source: Path, edits, table: str, finding_of, read) -> None:
    """A byte-mutated file through ``check``: refused, or summarized as the independent reading ``read`` does."""
    original = source.read_bytes()
    data = mutate_bytes(original, edits)
    finding, expected = finding_of(data, original)
    with tempfile.TemporaryDirectory() as tmp:
        path = fresh_copy(source, Path(tmp), data)
        code, stdout = run_case(["check", str(path)], path)
        assert_outcome(EXPECTATIONS[table][finding], code, stdout if code == 0 else None,
                       check_line(path, read(original)[1]), check_line(path, expected))


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_event_file_through_check(corpus, edits):
    check_bytes(corpus["td"], edits, "td", td_finding, read_td)


@fuzz(40)
@given(edits=byte_edits)
def test_fuzz_box_file_through_check(corpus, edits):
    check_bytes(corpus["bbox"], edits, "bbox", bbox_finding, read_bbox)


@fuzz(40)
@given(edits=h5_edits, keep_checksum=st.booleans())
def test_fuzz_direct_model_structure_through_check(corpus, edits, keep_checksum):
    with tempfile.TemporaryDirectory() as tmp:
        model = fresh_copy(corpus["direct_model"], Path(tmp))
        before = hdf5_content(model)
        mutate_hdf5(model, edits, keep_checksum)
        after = hdf5_content(model)
        table = "direct model structure"
        verdict = structure_verdict(before, after, keep_checksum, lambda *_: "changed", table)
        expected = direct_model_summary(after)
        if verdict == CHANGED and expected is None:
            verdict = EXPECTATIONS[table]["no valid summary"]
        code, stdout = run_case(["check", str(model)], model)
        assert_outcome(verdict, code, stdout if code == 0 else None,
                       check_line(model, direct_model_summary(before)), check_line(model, expected))
