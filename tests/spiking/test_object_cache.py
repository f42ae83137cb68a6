"""The object cache (brainyolo.spiking.object_cache): a key changes exactly when what the compiler reads
changes (hand-made build folders), and a build that restores object files runs as one that compiled
them (Brian2's runtime device as the reference)."""

from __future__ import annotations

import gc
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from brainyolo.spiking.object_cache import (
    ObjectCache,
    build_context,
    filtered_objects_header,
    included_files,
    source_key,
)

needs_compiler = pytest.mark.skipif(shutil.which("g++") is None, reason="the key asks g++ for its version and target")

OBJECTS_H = """#ifndef _BRIAN_OBJECTS_H
#define _BRIAN_OBJECTS_H
#include "brianlib/clocks.h"
namespace brian {
class RandomGenerator { double rand(); };
extern double *_array_group_v;
extern const int _num__array_group_v;
extern int32_t *_array_other_i;
extern std::vector<double> _dynamic_array_monitor_t;
extern double _array_fixed[4];
}
void _init_arrays();
#endif
"""

SOURCE = """#include "code_objects/a_codeobject.h"
#include "objects.h"
void _run_a_codeobject() { double* v = brian::_array_group_v; v[0] += brian::_num__array_group_v; }
"""

MAKEFILE = """PROGRAM = main

SRCS = code_objects/a_codeobject.cpp code_objects/b_codeobject.cpp
OPTIMISATIONS = -w -O3 -march=native -std=c++17
CXXFLAGS = -c -Wno-write-strings $(OPTIMISATIONS) -I.
"""


def make_folder(root: Path) -> Path:
    """A build folder as Brian2 writes one, in miniature."""
    (root / "code_objects").mkdir(parents=True)
    (root / "brianlib").mkdir()
    (root / "makefile").write_text(MAKEFILE)
    (root / "objects.h").write_text(OBJECTS_H)
    (root / "brianlib" / "clocks.h").write_text("struct Clock { double t; };\n")
    (root / "brainyolo_headers.h").write_text('#include "objects.h"\n#include <cmath>\n')
    (root / "code_objects" / "a_codeobject.h").write_text("void _run_a_codeobject();\n")
    (root / "code_objects" / "a_codeobject.cpp").write_text(SOURCE)
    (root / "code_objects" / "b_codeobject.cpp").write_text('#include "objects.h"\nint b = 1;\n')
    return root


def key(folder: Path, source: str = "code_objects/a_codeobject.cpp") -> str:
    context = build_context(folder, "brainyolo_headers.h")
    assert context is not None, "g++ did not answer"
    return source_key(context, source)[0]


@pytest.mark.codegen_independent
def test_the_filtered_objects_header_keeps_used_declarations_and_every_other_line():
    kept = filtered_objects_header(OBJECTS_H, {"_array_group_v", "_array_fixed"}).splitlines()
    assert "extern double *_array_group_v;" in kept and "extern double _array_fixed[4];" in kept
    for dropped in ("_num__array_group_v", "_array_other_i", "_dynamic_array_monitor_t"):
        assert not any(dropped in line for line in kept)
    assert "class RandomGenerator { double rand(); };" in kept and "void _init_arrays();" in kept
    assert len(kept) == len(OBJECTS_H.splitlines()) - 3


@pytest.mark.codegen_independent
def test_included_files_follow_quoted_includes_recursively_forced_first(tmp_path):
    folder = make_folder(tmp_path / "build")
    assert included_files(folder, "code_objects/a_codeobject.cpp", ("brainyolo_headers.h",)) == [
        "brainyolo_headers.h", "objects.h", "brianlib/clocks.h", "code_objects/a_codeobject.h"]


@pytest.mark.codegen_independent
@needs_compiler
def test_the_key_changes_exactly_when_what_the_compiler_reads_changes(tmp_path):
    folder = make_folder(tmp_path / "build")
    first = key(folder)
    assert len(first) == 64 and key(folder) == first

    def edited(path: str, old: str, new: str) -> str:
        file = folder / path
        original = file.read_text()
        assert old in original
        file.write_text(original.replace(old, new))
        try:
            return key(folder)
        finally:
            file.write_text(original)

    # the same key: what the source does not read
    assert edited("objects.h", "extern int32_t *_array_other_i;",
                  "extern int32_t *_array_other_i;\nextern float *_array_new_w;") == first
    assert edited("objects.h", "extern int32_t *_array_other_i;", "extern double *_array_other_i;") == first
    assert edited("makefile", "code_objects/b_codeobject.cpp", "code_objects/c_codeobject.cpp") == first
    assert edited("code_objects/b_codeobject.cpp", "int b = 1;", "int b = 2;") == first
    # another key: the source, a declaration it uses, a header it reaches, the flags, the forced header
    changed = [edited("code_objects/a_codeobject.cpp", "v[0] +=", "v[0] -="),
               edited("objects.h", "extern double *_array_group_v;", "extern float *_array_group_v;"),
               edited("objects.h", "extern const int _num__array_group_v;", "extern const long _num__array_group_v;"),
               edited("objects.h", "double rand();", "float rand();"),
               edited("brianlib/clocks.h", "double t;", "float t;"),
               edited("code_objects/a_codeobject.h", "void _run", "int _run"),
               edited("makefile", "-O3", "-O0"),
               edited("brainyolo_headers.h", "<cmath>", "<cstdint>")]
    assert len({first, *changed}) == 1 + len(changed)
    # the forced header is read by code objects only (the makefile's rule), not by other sources
    (folder / "run.cpp").write_text('#include "objects.h"\n')
    run_key = key(folder, "run.cpp")
    assert edited("brainyolo_headers.h", "<cmath>", "<cstdint>") != first
    (folder / "brainyolo_headers.h").write_text('#include "objects.h"\n#include <cstdint>\n')
    assert key(folder, "run.cpp") == run_key


def compiled(folder: Path, name: str, content: bytes) -> None:
    """What make leaves for code object ``name``: its object and dependency files, newer than the sources."""
    (folder / f"code_objects/{name}_codeobject.d").write_text(f"code_objects/{name}_codeobject.o: x\n")
    (folder / f"code_objects/{name}_codeobject.o").write_bytes(content)


@pytest.mark.codegen_independent
@needs_compiler
def test_only_what_make_compiled_is_stored_and_restore_skips_up_to_date_or_damaged_entries(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "build")
    root = tmp_path / "objects"
    compiled(folder, "b", b"old b")  # left by an earlier make (maybe from other input): never stored
    first = ObjectCache(folder, "brainyolo_headers.h", root)
    assert first.restore() == 0
    compiled(folder, "a", b"a" * 100)  # make compiles a, finds b up to date
    assert first.store() == 1 and first.stored == ["code_objects/a_codeobject.cpp"]

    other = make_folder(tmp_path / "other")  # another build: a is missing, b is compiled and up to date
    compiled(other, "b", b"own")
    cache = ObjectCache(other, "brainyolo_headers.h", root)
    assert cache.restore() == 1 and cache.restored == ["code_objects/a_codeobject.cpp"]
    assert (other / "code_objects/a_codeobject.o").read_bytes() == b"a" * 100
    assert (other / "code_objects/b_codeobject.o").read_bytes() == b"own"
    assert (other / "code_objects/a_codeobject.o").stat().st_mtime_ns >= (other / "objects.h").stat().st_mtime_ns

    # an entry cut short (its object file no longer matches its checksum) is removed, not restored
    (entry,) = [path for path in root.glob("*/*") if path.is_dir()]
    (entry / "object.o").write_bytes(b"a" * 50)
    third = make_folder(tmp_path / "third")
    assert ObjectCache(third, "brainyolo_headers.h", root).restore() == 0
    assert not (entry / "object.o").exists() and not (third / "code_objects/a_codeobject.o").exists()

    # a source including a header found nowhere is compiled, not cached
    (third / "code_objects/b_codeobject.cpp").write_text('#include "missing.h"\nint b = 1;\n')
    assert sorted(ObjectCache(third, "brainyolo_headers.h", root).sources) == ["code_objects/a_codeobject.cpp"]

    # a cache that cannot be written: a warning, no entry, nothing raised
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache's folder should be")
    fourth = make_folder(tmp_path / "fourth")
    cache = ObjectCache(fourth, "brainyolo_headers.h", blocked)
    cache.restore()
    compiled(fourth, "a", b"a")
    with pytest.warns(UserWarning, match="object cache"):
        assert cache.store() == 0
    monkeypatch.setenv("BRAINYOLO_OBJECT_CACHE", "off")
    assert ObjectCache(other, "brainyolo_headers.h").restore() == 0


@pytest.mark.codegen_independent
@needs_compiler
def test_headers_outside_the_build_folder_are_found_in_include_order_and_hashed(tmp_path):
    folder = make_folder(tmp_path / "build")
    outside = tmp_path / "include"
    outside.mkdir()
    (outside / "extra.h").write_text("int extra = 1;\n")
    (outside / "objects.h").write_text("// never read: the build folder's objects.h is found first\n")
    (folder / "code_objects/a_codeobject.h").write_text('#include "extra.h"\nvoid _run_a_codeobject();\n')
    (folder / "makefile").write_text(MAKEFILE.replace("-I.", f"-I. -I{outside}"))
    assert included_files(folder, "code_objects/a_codeobject.cpp", search=(".", str(outside))) == [
        "code_objects/a_codeobject.h", str(outside / "extra.h"), "objects.h", "brianlib/clocks.h"]
    first = key(folder)
    (outside / "extra.h").write_text("int extra = 2;\n")
    assert key(folder) != first


@pytest.mark.standalone_only
def test_a_build_that_restores_object_files_runs_as_the_runtime_device(tmp_path, monkeypatch):
    """A network, then the same network with one more group: the second build restores the code objects
    they share (make compiles only the new group's), and its recordings equal the runtime device's."""
    import brian2

    from brainyolo.spiking.device import back_to_runtime, standalone

    monkeypatch.setenv("BRAINYOLO_OBJECT_CACHE", str(tmp_path / "objects"))

    def network(extra: bool):
        group = brian2.NeuronGroup(5, "dv/dt = (1.5 - v) / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                                   method="exact", name="group")
        group.v = "i / 5.0"
        objects = [group, brian2.SpikeMonitor(group, name="spikes")]
        if extra:
            other = brian2.NeuronGroup(3, "dw/dt = -w / (5*ms) : 1", method="exact", name="other")
            other.w = 1
            objects += [other, brian2.StateMonitor(other, "w", record=True, name="trace")]
        return objects

    def recorded(objects) -> dict:
        found = {"t": np.asarray(objects[1].t_[:]), "i": np.asarray(objects[1].i[:])}
        if len(objects) > 2:
            found["w"] = np.asarray(objects[3].w[:])
        return found

    def run_standalone(extra: bool, folder: str):
        gc.collect()  # the earlier network's names are free again (no "_1" suffixes: the same sources)
        with standalone(1, directory=str(tmp_path / folder)):
            objects = network(extra)
            brian2.Network(*objects).run(30 * brian2.ms)
            result, cache = recorded(objects), brian2.get_device().last_object_cache
        return result, cache

    _, first = run_standalone(False, "first")
    assert first.stored and not first.restored
    second_result, second = run_standalone(True, "second")
    code_objects = {source for source in first.stored if source.startswith("code_objects/")}
    assert code_objects and code_objects <= set(second.restored) <= set(first.stored)
    assert any("other" in source for source in second.stored)  # compiled by make
    def built(sources) -> list[int]:
        return [(tmp_path / "second" / Path(source).with_suffix(".o")).stat().st_mtime_ns for source in sources]

    # make left the restored objects alone: all of them are older than the first it compiled
    assert max(built(second.restored)) < min(built(second.stored))

    back_to_runtime()
    gc.collect()
    objects = network(True)
    brian2.Network(*objects).run(30 * brian2.ms)
    reference = recorded(objects)
    assert len(reference["t"]) > 5
    for name in reference:
        np.testing.assert_allclose(second_result[name], reference[name], rtol=1e-12, atol=1e-12)


@pytest.mark.long
@pytest.mark.standalone_only
def test_the_build_reuse_study_restores_the_shared_files_and_only_with_the_cache(tmp_path, monkeypatch, capsys):
    """analysis/build-reuse/measure.py on its first two networks (compiled at -O0 here: the study's
    times are measured at Brian2's flags), the second also without the object cache (the first would only
    repeat its build): the second restores nearly all its files, and nothing without the object cache."""
    import brian2
    from conftest import analysis_script

    monkeypatch.setitem(brian2.prefs, "codegen.cpp.extra_compile_args_gcc", ["-w", "-O0", "-std=c++17"])
    study = analysis_script("build-reuse/measure")
    before = os.environ.get("BRAINYOLO_OBJECT_CACHE")
    rows = study.main(tmp_path / "out", study.CASES[:2], baseline=study.CASES[1:2])
    first, second = (row["with"] for row in rows)
    assert first["restored"] == 0 and first["sources"] > 50  # the embedded detector: 16 layers, each a few objects
    assert second["sources"] - 10 <= second["restored"] < second["sources"]
    assert rows[0]["without"] is None
    assert rows[1]["without"]["restored"] == rows[1]["without"]["sources"] == 0  # no cache looked at
    assert json.loads((tmp_path / "out" / "build-reuse.json").read_text()) == rows
    table = capsys.readouterr().out.splitlines()
    assert table[3].startswith(f"| fast, poisson input | {second['sources']} | {second['restored']} |")
    assert os.environ.get("BRAINYOLO_OBJECT_CACHE") == before  # the study gave the environment back
