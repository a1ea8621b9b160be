#!/usr/bin/env python3
"""Build one deployment zip per Lambda: handler + the grocery_forecast library + its dependencies.

    python scripts/build_lambdas.py                 # local emulator: host Python and platform
    python scripts/build_lambdas.py --target aws    # AWS: python3.12 on manylinux_2_28_x86_64

Dependencies are installed with pip into a cache keyed by the requirements, the trim list and
the target, so a rebuild after a code change takes seconds. Test suites and the packages listed
in ``lambdas/<fn>/trim.txt`` are removed; everything is byte-compiled by an interpreter of the
target version (Lambda's code directory is read-only, so without bytecode every cold start
compiles pandas from source: 2.5 s instead of 0.7 s); the OpenMP runtime LightGBM needs
(libgomp, absent from the Lambda base image) is carried in ``lib/``; entries are sorted with
fixed timestamps. A local build is smoke-tested by importing its handler from the extracted zip.
Fails if a bundle exceeds AWS's 250 MB unzipped limit.
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
OPERATOR_PACKAGES = ("cli",)  # left out of the bundles: they import nothing a handler needs
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
#: Bytecode that stays valid whatever the files' timestamps (zip entries carry FIXED_TIME).
COMPILE = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
NEEDS_OPENMP = {"predict", "train"}
#: Every bundle carries its own boto3 (in its requirements.txt), pinned as the tests ran it: the copy
#: in the Lambda runtime is whatever version AWS ships there, and the code relies on API parameters
#: younger than some of those (S3's conditional PutObject, ``IfMatch``, November 2024), which an
#: older botocore refuses before any request. botocore's models of the services no function calls
#: are dropped (31 MB unzipped of 33); ``tests/unit/test_build_lambdas.py`` checks that every client
#: the handlers and the library create is in this list, and the local build's smoke test creates one
#: client of each from the zip. boto3 and botocore are pinned to ``pyproject.toml``'s versions.
BOTOCORE_SERVICES = ("cloudwatch", "dynamodb", "s3", "sqs", "stepfunctions")


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


def _trim(root: Path, extra: list[str]) -> int:
    """Remove test suites, stray bytecode and the listed paths; returns the bytes removed."""

    def size(path: Path) -> int:
        return (
            path.stat().st_size
            if path.is_file()
            else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        )

    removed = 0
    for rel in extra:
        path = root / rel
        if not path.exists():
            raise SystemExit(
                f"build_lambdas: trim list names {rel}, which the installed packages do not have"
            )
        removed += size(path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in TRIM_DIRS and path.parent != root:
            removed += size(path)
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in TRIM_SUFFIXES:
            removed += path.stat().st_size
            path.unlink()
    shutil.rmtree(root / "bin", ignore_errors=True)
    return removed + _trim_botocore(root)


def _trim_botocore(root: Path) -> int:
    """Drop botocore's service models but :data:`BOTOCORE_SERVICES`'s; returns the bytes removed."""
    data = root / "botocore" / "data"
    if not data.is_dir():
        return 0
    removed = 0
    for service in data.iterdir():
        is_model = service.is_dir() and any(service.glob("*/service-2.json*"))
        if is_model and service.name not in BOTOCORE_SERVICES:
            removed += sum(f.stat().st_size for f in service.rglob("*") if f.is_file())
            shutil.rmtree(service)
    return removed


def _trim_list(fn: str) -> list[str]:
    path = LAMBDAS / fn / "trim.txt"
    if not path.exists():
        return []
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]


def _target_python(target: str) -> tuple[str, str | None]:
    """(version, interpreter of that version or None): the bytecode must match the runtime's Python."""
    if target == "local":
        return f"{sys.version_info.major}.{sys.version_info.minor}", sys.executable
    candidates = [
        shutil.which(f"python{AWS_PYTHON}"),
        *sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{AWS_PYTHON}.*/bin/python{AWS_PYTHON}")),
    ]
    for python in filter(None, candidates):
        probe = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == AWS_PYTHON:
            return AWS_PYTHON, python
    return AWS_PYTHON, None


def _compile(fn: str, root: Path, python: str | None, version: str) -> None:
    if python is None:
        _say(
            fn,
            f"note: no python{version} on this machine, so no bytecode: each cold start compiles from source",
        )
        return
    subprocess.run([python, *COMPILE, str(root)], check=True, stdout=subprocess.DEVNULL)


def _install_deps(fn: str, requirements: Path, target: str, cache: Path) -> Path:
    pyver, python = _target_python(target)
    platform = AWS_PLATFORM if target == "aws" else sys.platform
    trim = _trim_list(fn)
    key = _digest(
        requirements.read_bytes(),
        "\n".join(trim).encode(),
        "\n".join(BOTOCORE_SERVICES).encode(),
        target.encode(),
        pyver.encode(),
        platform.encode(),
        str(python is not None).encode(),
    )[:16]
    deps = cache / f"{fn}-{target}-{key}"
    if (deps / ".complete").exists():
        _say(fn, f"dependencies: cached ({deps.relative_to(ROOT)})")
        return deps
    shutil.rmtree(deps, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(deps),
        "-r",
        str(requirements),
    ]
    if target == "aws":
        cmd += [
            "--platform",
            AWS_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            AWS_PYTHON,
            "--only-binary=:all:",
        ]
    _say(
        fn, f"dependencies: pip install -r {requirements.relative_to(ROOT)} (python {pyver}, {platform}) ..."
    )
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_REQUIRE_VIRTUALENV",)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    noise = ("WARNING: Location", "WARNING: You are using pip")
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and not line.startswith(noise):
            print(f"[{fn}] pip: {line}", flush=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"build_lambdas: pip could not install {requirements.relative_to(ROOT)} ({proc.returncode})"
        )
    trimmed = _trim(deps, trim)
    _compile(fn, deps, python, pyver)
    (deps / ".complete").write_text(json.dumps({"requirements": requirements.read_text(), "trim": trim}))
    _say(
        fn,
        f"dependencies: installed in {time.perf_counter() - t0:.1f}s, trimmed {trimmed / 1e6:.1f} MB "
        f"(tests{', ' + str(len(trim)) + ' unused packages' if trim else ''}), byte-compiled",
    )
    return deps


def _find_libgomp() -> Path:
    """The host's OpenMP runtime; Debian/Ubuntu and Amazon Linux keep it in one of these places."""
    candidates = [
        Path(p) / "libgomp.so.1"
        for p in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib")
    ]
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
        candidates += [
            Path(line.split("=>")[-1].strip()) for line in out.splitlines() if "libgomp.so.1 " in line
        ]
    except FileNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise SystemExit(
        "build_lambdas: libgomp.so.1 (the OpenMP runtime LightGBM needs) was not found on this "
        "machine; install it (Debian: apt-get install libgomp1) and retry"
    )


def _check_glibc(lib: Path) -> None:
    """Refuse a libgomp that needs a newer glibc than the Lambda runtime has (checked when objdump exists)."""
    try:
        out = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True, check=True).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        print(f"[predict] note: objdump not found, glibc requirement of {lib} not checked", flush=True)
        return
    needed = max(
        (tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)), default=(0,)
    )
    if needed > AWS_GLIBC:
        raise SystemExit(
            f"build_lambdas: {lib} needs glibc {'.'.join(map(str, needed))}, newer than the Lambda "
            f"runtime's {'.'.join(map(str, AWS_GLIBC))}; build on an older distribution "
            "(e.g. an Amazon Linux 2023 container)"
        )


def _files(staging_sources: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """(source file, archive name) for every file to zip, sorted by archive name."""
    entries: dict[str, Path] = {}
    for src, prefix in staging_sources:
        if src.is_file():
            entries[prefix] = src
            continue
        for path in src.rglob("*"):
            if path.is_file() and path.name != ".complete":
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


def _library_ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
    if Path(folder) == LIBRARY:
        skip |= set(OPERATOR_PACKAGES) & set(names)
    return skip


def _stage_app(fn: str, target: str) -> Path:
    """The library and handler, copied and byte-compiled for the target Python."""
    staging = ROOT / "build" / "staging" / f"{fn}-{target}"
    shutil.rmtree(staging, ignore_errors=True)
    # The CLI (and the operator code under it: Terraform outputs, emulator health) never runs in a Lambda.
    shutil.copytree(LIBRARY, staging / "grocery_forecast", ignore=_library_ignore)
    shutil.copy2(LAMBDAS / fn / "handler.py", staging / "handler.py")
    pyver, python = _target_python(target)
    _compile(fn, staging, python, pyver)
    return staging


def _smoke_test(fn: str, zip_path: Path) -> float:
    """Import the handler (and, for predict, LightGBM) from the extracted zip, as the emulator will."""
    import tempfile

    probe = (
        "import sys, time; t = time.perf_counter(); import handler; "
        + ("import grocery_forecast.forecasting.model; " if fn in NEEDS_OPENMP else "")
        # every kept service model loads (clients are built offline), not only the handler's own
        + f"import boto3; [boto3.client(s, region_name='us-east-1') for s in {BOTOCORE_SERVICES!r}]; "
        + "boto3.client('s3', region_name='us-east-1').get_paginator('list_objects_v2'); "
        + "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            "HISTORY_TABLE": "smoke",
            "PROCESSED_BUCKET": "smoke",
            "OUTPUT_BUCKET": "smoke",
            "MODELS_BUCKET": "smoke",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LD_LIBRARY_PATH": str(Path(tmp) / "lib"),
        }
        proc = subprocess.run(
            [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {tmp!r}); " + probe],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"build_lambdas: {zip_path.name} does not import:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def build(fn: str, target: str, out: Path, cache: Path, force: bool) -> dict:
    src = LAMBDAS / fn
    requirements = src / "requirements.txt"
    deps = _install_deps(fn, requirements, target, cache)
    fingerprint = _digest(
        deps.name.encode(),
        _tree_digest(LIBRARY),
        (src / "handler.py").read_bytes(),
        Path(__file__).read_bytes(),
    )
    dest = out / f"{fn}.zip"
    stamp = out / f"{fn}.build.json"
    if (
        not force
        and dest.exists()
        and stamp.exists()
        and json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    ):
        report = json.loads(stamp.read_text())
        _say(fn, f"up to date: {dest.relative_to(ROOT)} ({report['unzipped_bytes'] / 1e6:.1f} MB unzipped)")
        return report
    sources: list[tuple[Path, str]] = [(deps, ""), (_stage_app(fn, target), "")]
    if fn in NEEDS_OPENMP:
        libgomp = _find_libgomp()
        if target == "aws":
            _check_glibc(libgomp)
        sources.append((libgomp, "lib/libgomp.so.1"))
    files = _files(sources)
    unzipped = sum(p.stat().st_size for p, _ in files)
    if unzipped > UNZIPPED_LIMIT:
        raise SystemExit(
            f"build_lambdas: {fn} is {unzipped / 1e6:.1f} MB unzipped, over AWS Lambda's "
            f"{UNZIPPED_LIMIT / 1e6:.0f} MB limit; trim its requirements ({requirements})"
        )
    t0 = time.perf_counter()
    _write_zip(files, dest, fn)
    report = {
        "function": fn,
        "target": target,
        "zip": str(dest.relative_to(ROOT)),
        "files": len(files),
        "unzipped_bytes": unzipped,
        "zipped_bytes": dest.stat().st_size,
        "limit_bytes": UNZIPPED_LIMIT,
        "fingerprint": fingerprint,
    }
    _say(
        fn,
        f"built {dest.relative_to(ROOT)}: {unzipped / 1e6:.1f} MB unzipped "
        f"({100 * unzipped / UNZIPPED_LIMIT:.0f}% of the 250 MB limit), {dest.stat().st_size / 1e6:.1f} MB "
        f"zipped, {len(files)} files, in {time.perf_counter() - t0:.1f}s",
    )
    if target == "local":
        report["import_seconds"] = round(_smoke_test(fn, dest), 2)
        _say(fn, f"smoke test: handler imports from the zip in {report['import_seconds']:.2f}s")
    stamp.write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        choices=["local", "aws"],
        default="local",
        help="local: the emulator's host Python; aws: python3.12 manylinux (default: local)",
    )
    parser.add_argument(
        "--functions",
        nargs="+",
        default=sorted(p.name for p in LAMBDAS.iterdir() if (p / "handler.py").exists()),
    )
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
