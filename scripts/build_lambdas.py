#!/usr/bin/env python3
"""Build one deployment zip per Lambda: handler + the grocery_forecast library + its dependencies.

    python scripts/build_lambdas.py                 # local emulator: host Python and platform
    python scripts/build_lambdas.py --target aws    # AWS: python3.12 on manylinux_2_28_x86_64

Dependencies are installed with pip into a cache keyed by the requirements and the target, so a
rebuild after a code change takes seconds. Test suites and bytecode are trimmed, the OpenMP
runtime LightGBM needs (libgomp, absent from the Lambda base image) is carried in ``lib/``, and
the zip is byte-for-byte reproducible (sorted entries, fixed timestamps) so Terraform's
``source_code_hash`` only changes when the content does. Fails if a bundle exceeds AWS's 250 MB
unzipped limit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "src" / "grocery_forecast"
LAMBDAS = ROOT / "lambdas"
#: AWS's limit for a function's unzipped code (layers included), in bytes.
UNZIPPED_LIMIT = 250 * 1024 * 1024
AWS_PYTHON = "3.12"
AWS_PLATFORM = "manylinux_2_28_x86_64"
#: glibc of the Lambda python3.12+ runtimes (Amazon Linux 2023): a carried libgomp must not need more.
AWS_GLIBC = (2, 34)
#: Directories dropped from third-party packages: test suites are never imported at run time.
TRIM_DIRS = {"tests", "__pycache__"}
TRIM_SUFFIXES = (".pyc", ".pyo", ".pyx", ".pxd", ".pxi")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
NEEDS_OPENMP = {"predict"}


def _say(fn: str, message: str) -> None:
    print(f"[{fn}] {message}", flush=True)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _tree_digest(root: Path) -> bytes:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.digest()


def _trim(root: Path) -> int:
    removed = 0
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in TRIM_DIRS and path.parent != root:
            removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in TRIM_SUFFIXES:
            removed += path.stat().st_size
            path.unlink()
    shutil.rmtree(root / "bin", ignore_errors=True)
    return removed


def _install_deps(fn: str, requirements: Path, target: str, cache: Path) -> Path:
    pyver = AWS_PYTHON if target == "aws" else f"{sys.version_info.major}.{sys.version_info.minor}"
    platform = AWS_PLATFORM if target == "aws" else sys.platform
    key = _digest(requirements.read_bytes(), target.encode(), pyver.encode(), platform.encode())[:16]
    deps = cache / f"{fn}-{target}-{key}"
    if (deps / ".complete").exists():
        _say(fn, f"dependencies: cached ({deps.relative_to(ROOT)})")
        return deps
    shutil.rmtree(deps, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(deps), "-r", str(requirements)]
    if target == "aws":
        cmd += ["--platform", AWS_PLATFORM, "--implementation", "cp", "--python-version", AWS_PYTHON,
                "--only-binary=:all:"]
    _say(fn, f"dependencies: pip install -r {requirements.relative_to(ROOT)} (python {pyver}, {platform}) ...")
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_REQUIRE_VIRTUALENV",)}
    subprocess.run(cmd, check=True, env=env)
    trimmed = _trim(deps)
    (deps / ".complete").write_text(json.dumps({"requirements": requirements.read_text()}))
    _say(fn, f"dependencies: installed in {time.perf_counter() - t0:.1f}s, trimmed {trimmed / 1e6:.1f} MB "
             "of tests and bytecode")
    return deps


def _find_libgomp() -> Path:
    """The host's OpenMP runtime; Debian/Ubuntu and Amazon Linux keep it in one of these places."""
    candidates = [Path(p) / "libgomp.so.1" for p in (
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib")]
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
        candidates += [Path(line.split("=>")[-1].strip()) for line in out.splitlines() if "libgomp.so.1 " in line]
    except FileNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise SystemExit("build_lambdas: libgomp.so.1 (the OpenMP runtime LightGBM needs) was not found on this "
                     "machine; install it (Debian: apt-get install libgomp1) and retry")


def _check_glibc(lib: Path) -> None:
    """Refuse a libgomp that needs a newer glibc than the Lambda runtime has (checked when objdump exists)."""
    try:
        out = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True, check=True).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        print(f"[predict] note: objdump not found, glibc requirement of {lib} not checked", flush=True)
        return
    needed = max((tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)), default=(0,))
    if needed > AWS_GLIBC:
        raise SystemExit(f"build_lambdas: {lib} needs glibc {'.'.join(map(str, needed))}, newer than the Lambda "
                         f"runtime's {'.'.join(map(str, AWS_GLIBC))}; build on an older distribution "
                         "(e.g. an Amazon Linux 2023 container)")


def _files(staging_sources: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """(source file, archive name) for every file to zip, sorted by archive name."""
    entries: dict[str, Path] = {}
    for src, prefix in staging_sources:
        if src.is_file():
            entries[prefix] = src
            continue
        for path in src.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc",) \
                    and path.name != ".complete":
                entries[f"{prefix}/{path.relative_to(src)}".lstrip("/")] = path
    return sorted(((p, n) for n, p in entries.items()), key=lambda e: e[1])


def _write_zip(files: list[tuple[Path, str]], dest: Path, fn: str) -> None:
    tmp = dest.with_suffix(".zip.part")
    total = len(files)
    step = max(1, total // 10)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for i, (path, name) in enumerate(files, 1):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            mode = 0o755 if os.access(path, os.X_OK) or path.suffix == ".so" or ".so." in path.name else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=6)
            if i % step == 0 or i == total:
                _say(fn, f"zipping {i}/{total} files ({100 * i // total}%)")
    tmp.replace(dest)


def build(fn: str, target: str, out: Path, cache: Path, force: bool) -> dict:
    src = LAMBDAS / fn
    requirements = src / "requirements.txt"
    deps = _install_deps(fn, requirements, target, cache)
    sources: list[tuple[Path, str]] = [(deps, ""), (LIBRARY, "grocery_forecast"), (src / "handler.py", "handler.py")]
    if fn in NEEDS_OPENMP:
        libgomp = _find_libgomp()
        if target == "aws":
            _check_glibc(libgomp)
        sources.append((libgomp, "lib/libgomp.so.1"))
    files = _files(sources)
    unzipped = sum(p.stat().st_size for p, _ in files)
    fingerprint = _digest(deps.name.encode(), _tree_digest(LIBRARY), (src / "handler.py").read_bytes(),
                          Path(__file__).read_bytes())
    dest = out / f"{fn}.zip"
    stamp = out / f"{fn}.build.json"
    if not force and dest.exists() and stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint:
        _say(fn, f"up to date: {dest.relative_to(ROOT)} ({unzipped / 1e6:.1f} MB unzipped)")
        return json.loads(stamp.read_text())
    if unzipped > UNZIPPED_LIMIT:
        raise SystemExit(f"build_lambdas: {fn} is {unzipped / 1e6:.1f} MB unzipped, over AWS Lambda's "
                         f"{UNZIPPED_LIMIT / 1e6:.0f} MB limit; trim its requirements ({requirements})")
    t0 = time.perf_counter()
    _write_zip(files, dest, fn)
    report = {
        "function": fn, "target": target, "zip": str(dest.relative_to(ROOT)), "files": len(files),
        "unzipped_bytes": unzipped, "zipped_bytes": dest.stat().st_size,
        "limit_bytes": UNZIPPED_LIMIT, "fingerprint": fingerprint,
    }
    stamp.write_text(json.dumps(report, indent=2))
    _say(fn, f"built {dest.relative_to(ROOT)}: {unzipped / 1e6:.1f} MB unzipped "
             f"({100 * unzipped / UNZIPPED_LIMIT:.0f}% of the 250 MB limit), {dest.stat().st_size / 1e6:.1f} MB "
             f"zipped, {len(files)} files, in {time.perf_counter() - t0:.1f}s")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["local", "aws"], default="local",
                        help="local: the emulator's host Python; aws: python3.12 manylinux (default: local)")
    parser.add_argument("--functions", nargs="+", default=sorted(p.name for p in LAMBDAS.iterdir()
                                                                   if (p / "handler.py").exists()))
    parser.add_argument("--out", type=Path, help="default: build/lambdas (local) or build/lambdas-aws (aws)")
    parser.add_argument("--force", action="store_true", help="rebuild even when inputs are unchanged")
    args = parser.parse_args()
    out = args.out or ROOT / "build" / ("lambdas" if args.target == "local" else "lambdas-aws")
    out.mkdir(parents=True, exist_ok=True)
    cache = ROOT / "build" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for fn in args.functions:
        build(fn, args.target, out, cache, args.force)


if __name__ == "__main__":
    main()
