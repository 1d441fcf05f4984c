"""Compile the modules of the decide path with mypyc (``scripts/compile`` runs this).

    .venv/bin/python scripts/compile_native.py [--force] [--check]

Each module in ``MODULES`` becomes a C extension beside its source, the code they share one
library in ``sdk/``; ``sdk/opmaat_native.json`` is written last (what ``opmaat.compiled`` checks
at import: a compiled module never runs in place of newer source). Does nothing when the stamp
matches the sources. ``OPMAAT_COMPILE=0`` skips it; without a C compiler or Python's headers
it says so and leaves plain Python, as does a failed compile (its error printed): opmaat runs
either way, only slower.

The C compiler builds it twice, guided by a profile (gcc's ``-fprofile-generate`` and
``-fprofile-use``): an instrumented build runs ``TRAINING`` (bench.served's decide requests)
in a child process, and the second build lays out and inlines the code by what those
requests counted. A served decide then takes about a tenth less time (`python -m
bench.served`, in turn with a plain build). ``OPMAAT_PGO=0`` builds once, without a profile;
a compiler that cannot make or use one gets the plain build.

Why these modules: they hold the decide request's own time (cProfile, ``bench.request``'s
returning visitors): the request context and profile, the record's updates, the engine and its
gates, templates, reasons, tokens, and the edge's HTTP layer for /v1/decide and /v1/events.
Left plain: modules whose functions tests replace to break or watch a request (``store.py``,
``runtime.py``, ``limits.py``, the edge's ``server_api.py``), ``context/device.py`` (its parent
class is untyped), and what runs at load or in the cockpit. A compiled module's functions call
each other directly, so a test that replaces one by name sees no effect there: such tests
watch a plain-Python seam instead (the recommender the engine is handed, ``Path.stat``), or are
marked ``pure`` (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT / "edge")]
# This process only reads the stamp and the sources: it never warns that they changed.
os.environ["OPMAAT_PURE"] = "1"

from opmaat import compiled  # noqa: E402

GROUP = "opmaat_native"
MODULES = (
    "opmaat.bucketing",
    "opmaat.cart",
    "opmaat.channel_prefs",
    "opmaat.conditions",
    "opmaat.consent",
    "opmaat.context._urls",
    "opmaat.context.clock",
    "opmaat.context.geo",
    "opmaat.context.nearby",
    "opmaat.context.network",
    "opmaat.context.referrer",
    "opmaat.context.utm",
    "opmaat.decision_tokens",
    "opmaat.engine",
    "opmaat.event_counts",
    "opmaat.expiring_lru",
    "opmaat.gates",
    "opmaat.history",
    "opmaat.identity",
    "opmaat.intent",
    "opmaat.interests",
    "opmaat.log_lines",
    "opmaat.personalizer",
    "opmaat.predicates",
    "opmaat.preferences",
    "opmaat.profile",
    "opmaat.profile_reads",
    "opmaat.reasons",
    "opmaat.templates",
    "opmaat.tracking",
    "opmaat.visits",
    "opmaat_edge.api",
    "opmaat_edge.direct",
    "opmaat_edge.guard",
    "opmaat_edge.http",
    "opmaat_edge.metrics",
    "opmaat_edge.state",
    "opmaat_edge.visit",
)


def source(module: str) -> Path:
    root = ROOT / ("edge" if module.startswith("opmaat_edge") else "sdk")
    return root.joinpath(*module.split(".")).with_suffix(".py")


def missing_tools() -> str:
    """Why nothing can be compiled here ("" when it can)."""
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")):
        return "no C compiler (apt-get install gcc)"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        return f"no Python headers in {include} (apt-get install python3-dev)"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed (pip install mypy)"
    return ""


def clean() -> None:
    """Remove every compiled module, the shared library and the stamp: plain Python again."""
    compiled.STAMP.unlink(missing_ok=True)
    for path in compiled.extensions().values():
        for suffix in compiled.SUFFIXES:
            path.with_name(path.stem + suffix).unlink(missing_ok=True)
    for path in (ROOT / "sdk").glob(f"{GROUP}*__mypyc*"):
        path.unlink()


def up_to_date() -> bool:
    """The stamp holds for the modules found (what a process checks), and they are MODULES."""
    found = compiled.extensions()
    return sorted(found) == sorted(MODULES) and not compiled.stale(found)


# One C library for every module (calls between them stay native), its C files compiled on
# every core at once: distutils compiles an extension's sources one after the other.
_SETUP = """
import sys
from concurrent.futures import ThreadPoolExecutor
from setuptools import setup
from distutils import ccompiler
from mypyc.build import mypycify

def compile_at_once(self, sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                    extra_preargs=None, extra_postargs=None, depends=None):
    macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)
    def one(obj):
        source, ext = build[obj]
        self._compile(obj, source, ext, cc_args, extra_postargs, pp_opts)
    with ThreadPoolExecutor(int(sys.argv[-1])) as pool:
        list(pool.map(one, objects))
    return objects

ccompiler.CCompiler.compile = compile_at_once
setup(
    name="opmaat-native",
    ext_modules=mypycify(sys.argv[1:-3], opt_level="3", group_name={group!r}, multi_file=True),
    script_args=["build_ext", "--build-lib", sys.argv[-3], "--build-temp", sys.argv[-2]],
)
"""


def build(work: Path, cflags: str = "", ldflags: str = "") -> None:
    """mypyc in a child process, into ``work`` (``cflags`` and ``ldflags`` added to the C
    compiler's); then each extension copied beside its source."""
    lib, temp = work / "lib", work / "temp"
    shutil.rmtree(lib, ignore_errors=True)  # a second build compiles every file again
    shutil.rmtree(temp, ignore_errors=True)
    setup = work / "setup.py"
    setup.write_text(_SETUP.format(group=GROUP), encoding="utf-8")
    # mypy's settings of this checkout (setup.py runs in ``work``, where mypy would find none).
    paths = [f"--config-file={ROOT / 'pyproject.toml'}", *(str(source(m)) for m in MODULES)]
    jobs = str(max(1, os.cpu_count() or 1))
    # In ``work``: setuptools would read the project's pyproject.toml (a hatchling project).
    env = {**os.environ, "MYPYPATH": f"{ROOT / 'sdk'}:{ROOT / 'edge'}"}
    for name, extra in (("CFLAGS", cflags), ("LDFLAGS", ldflags)):
        if extra:
            env[name] = f"{env.get(name, '')} {extra}".strip()
    done = subprocess.run(
        [sys.executable, str(setup), *paths, str(lib), str(temp), jobs],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError((done.stdout + done.stderr)[-4000:])
    for built in lib.rglob("*.so"):
        relative = built.relative_to(lib)
        if relative.parts[0] in ("opmaat", "opmaat_edge"):
            root = ROOT / ("edge" if relative.parts[0] == "opmaat_edge" else "sdk")
            shutil.copy2(built, root / relative)
        else:
            shutil.copy2(built, ROOT / "sdk" / relative.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/compile", description=__doc__)
    parser.add_argument("--force", action="store_true", help="compile even when up to date")
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--check", action="store_true", help="exit 1 unless up to date")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
        print("compile: removed; opmaat runs as plain Python")
        return 0
    if args.check:
        return 0 if up_to_date() else 1
    if os.environ.get("OPMAAT_COMPILE", "1").strip() == "0":
        return 0
    if up_to_date() and not args.force:
        return 0
    why = missing_tools()
    if why:
        print(f"compile: skipped, {why}; opmaat runs as plain Python (slower)")
        return 0
    clean()
    digest = compiled.sources_digest()
    started = time.monotonic()
    print(f"compile: {len(MODULES)} modules with mypyc (a minute or two, once) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="opmaat-mypyc-") as folder:
        work = Path(folder)
        guided = False
        if os.environ.get("OPMAAT_PGO", "1").strip() != "0":
            try:
                guided = guided_build(work, digest)
            except RuntimeError as failed:
                print(
                    f"compile: the instrumented build failed, building without a profile:\n{failed}"
                )
        try:
            if not guided:
                clean()
                build(work)
        except RuntimeError as failed:
            clean()
            print(f"compile: failed; opmaat runs as plain Python (slower):\n{failed}")
            return 0
    if not write_stamp(digest):
        clean()
        print("compile: not every module was built; opmaat runs as plain Python (slower)")
        return 0
    how = "profile-guided" if guided else "without a profile"
    print(f"compile: done in {time.monotonic() - started:.0f} s ({how})")
    return 0


def write_stamp(digest: str) -> bool:
    """Say the extensions beside the sources were built from the sources of ``digest``
    (False, and no stamp, unless every module of MODULES is there)."""
    stamp = {"digest": digest, "modules": sorted(compiled.extensions()), "group": GROUP}
    if stamp["modules"] != sorted(MODULES):
        return False
    partial = compiled.STAMP.with_suffix(".tmp")
    partial.write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    partial.replace(compiled.STAMP)
    return True


# What the profile-guided build learns from: `bench.served`'s decide requests (a returning
# visitor's page view through the edge's protocol, app and memory store) and bare Starlette's,
# a few thousand, in a child process running the instrumented build. Code they do not reach
# is compiled as it would be without a profile (-fprofile-partial-training).
TRAINING = "from bench import served; served.run(runs=600, rounds=3)"


def guided_build(work: Path, digest: str) -> bool:
    """Build with the C compiler's profile-guided optimization: an instrumented build, the
    training requests, then the build that uses what they counted (a served decide takes
    about a tenth less time than after a plain build). False when the compiler or the
    training could not make a profile: the caller then builds without one."""
    profile = work / "profile"
    build(work, f"-fprofile-generate={profile}", f"-fprofile-generate={profile}")
    if not write_stamp(digest):
        return False
    env = {k: v for k, v in os.environ.items() if k != "OPMAAT_PURE"}
    # This checkout's packages first, whatever the venv installed (another checkout's).
    first = [str(ROOT / "sdk"), str(ROOT / "edge"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*first, env.get("PYTHONPATH")]))
    trained = subprocess.run(
        [sys.executable, "-c", TRAINING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    compiled.STAMP.unlink(missing_ok=True)
    if trained.returncode != 0 or not any(profile.rglob("*.gcda")):
        print(f"compile: no profile to guide the build ({trained.stderr[-500:].strip()})")
        return False
    uses = f"-fprofile-use={profile} -fprofile-partial-training -Wno-missing-profile"
    try:
        build(work, uses)
    except RuntimeError as failed:
        print(f"compile: the profile-guided build failed, building without a profile:\n{failed}")
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
