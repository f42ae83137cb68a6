"""``brainyolo cache``."""

from __future__ import annotations

import time

from brainyolo.cli.options import non_negative


def add_parser(commands) -> None:
    p = commands.add_parser("cache", help="list or remove compiled networks in the build cache",
                            description="The C++ standalone builds kept in $BRAINYOLO_CACHE (default "
                                        "~/.cache/brainyolo/builds), least recently used first, and the "
                                        "object cache (compiled files that later builds reuse; "
                                        "$BRAINYOLO_OBJECT_CACHE, default $BRAINYOLO_CACHE/objects). A build "
                                        "being compiled or run is never removed. Every call also removes "
                                        "the results folders that killed runs left in the builds or in "
                                        "memory ($BRAINYOLO_SCRATCH, default /dev/shm/brainyolo-<uid>; as "
                                        "every run of a build does).")
    p.add_argument("--clear", action="store_true", help="remove every build and the object cache")
    p.add_argument("--older-than", type=non_negative, metavar="DAYS",
                   help="remove builds and cached objects unused for DAYS days")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.spiking.build_cache import (
        cache_root,
        cached_builds,
        remove_abandoned_results,
        remove_builds,
        remove_orphaned_scratch,
    )
    from brainyolo.spiking.object_cache import object_cache_root, object_cache_size, remove_objects

    def describe(build) -> str:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(build.last_used))
        return f"{build.path.name}  {build.size_bytes / 2**20:8.1f} MiB  last used {used}"

    if args.clear or args.older_than is not None:
        removed, busy = remove_builds(args.older_than or 0.0)
        remove_orphaned_scratch()
        for build in removed:
            print(f"removed {describe(build)}")
        for build in busy:
            print(f"kept (in use) {describe(build)}")
        print(f"{len(removed)} builds removed, {sum(b.size_bytes for b in removed) / 2**20:.1f} MiB freed "
              f"from {cache_root()}")
        if object_cache_root() is not None:
            entries, freed = remove_objects(args.older_than or 0.0)
            print(f"{entries} compiled files removed, {freed / 2**20:.1f} MiB freed from {object_cache_root()}")
        return 0
    freed = sum(remove_abandoned_results(build.path) for build in cached_builds())
    freed += remove_orphaned_scratch()
    if freed:
        print(f"removed {freed / 2**20:.1f} MiB of results folders left by killed runs")
    builds = cached_builds()
    for build in builds:
        print(describe(build))
    print(f"{len(builds)} builds, {sum(b.size_bytes for b in builds) / 2**20:.1f} MiB in {cache_root()}")
    if object_cache_root() is not None:
        entries, size = object_cache_size()
        print(f"{entries} compiled files, {size / 2**20:.1f} MiB in {object_cache_root()}")
    return 0
