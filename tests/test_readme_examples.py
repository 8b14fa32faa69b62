"""Every shell and Python example in README.md works as written, with no key.

The README is read block by block. Each ```sh, ```bash and ```python block runs, in README
order, against one server started as ``make run`` starts it (``manage.py runserver`` with the
default settings: the offline model at its default pace), on a fresh database, with the port
and the ``.venv/bin/`` path substituted. What a block prints is checked against the ```text
block that directly follows it, if any: its lines must appear in the output in that order,
``...`` standing for anything (a line of only ``...`` just marks skipped lines for readers).

A block that cannot run here (a real key, production hosts, tools the suite itself runs) is
preceded by ``<!-- not run: why -->``; it is reported as skipped with that reason, never
silently left out. Browser JavaScript blocks (```js) are not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.server import (
    PYTHON,
    REPO_ROOT,
    ServerProcess,
    free_port,
    fresh_database,
    server_environment,
)

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"
RUN_LANGUAGES = {"sh", "bash", "python"}
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+?) -->$")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
BLOCK_TIMEOUT = 120


@dataclass(frozen=True)
class Example:
    line: int
    lang: str
    code: str
    expected: str | None
    not_run: str | None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}-{self.lang}"


def read_examples(text: str) -> list[Example]:
    lines = text.splitlines()
    blocks: list[tuple[int, str, str]] = []  # (first line number, language, code)
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        blocks.append((index + 1, opening["lang"], "\n".join(lines[index + 1 : end])))
        index = end + 1

    examples = []
    for position, (line, lang, code) in enumerate(blocks):
        if lang not in RUN_LANGUAGES:
            continue
        before = [text for text in lines[: line - 1] if text.strip()]
        marker = NOT_RUN.match(before[-1].strip()) if before else None
        expected = None
        if position + 1 < len(blocks):
            next_line, next_lang, next_code = blocks[position + 1]
            between = lines[line + code.count("\n") + 2 : next_line - 1]
            if next_lang == "text" and not any(text.strip() for text in between):
                expected = next_code
        examples.append(
            Example(line, lang, code, expected, marker["reason"].strip() if marker else None)
        )
    return examples


EXAMPLES = read_examples(README.read_text())


def matches(expected: str, output: str) -> tuple[bool, str]:
    """Whether every expected line occurs in ``output``, in order (``...`` matches anything
    within a line); the first one missing. Occurs, not equals: curl prints no newline after a
    JSON body, so two answers may share a line."""
    position = 0
    for wanted in expected.splitlines():
        wanted = wanted.strip()
        if not wanted or wanted == "...":
            continue
        pattern = re.compile(".*?".join(re.escape(part) for part in wanted.split("...")))
        found = pattern.search(output, position)
        if found is None:
            return False, wanted
        position = found.end()
    return True, ""


def test_the_readme_has_runnable_examples_and_marks_the_rest():
    assert len([e for e in EXAMPLES if e.not_run is None]) >= 9
    assert all(e.not_run for e in EXAMPLES if e.not_run is not None), "a reason is required"
    # A "prints" block belongs to a block that runs: an expectation nobody checks is a lie.
    assert not [e.id for e in EXAMPLES if e.not_run and e.expected], "expected output, not run"


def test_the_matcher():
    assert matches("a\n...\nc ... e", "a\nb\nc d e\n")[0]
    assert matches('{"x": 1}\n{"y": ...}', '{"x": 1}{"y": 2}')[0]
    assert not matches("c\na", "a\nc\n")[0]


class DevServer(ServerProcess):
    """``manage.py runserver`` (Channels' ASGI development server), as ``make run`` starts it;
    ``--noreload`` so the process the test kills is the one serving."""

    def start(self, timeout: float = 60) -> DevServer:
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy(timeout)
        return self


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevServer, dict]]:
    directory = tmp_path_factory.mktemp("readme")
    with fresh_database(directory) as database_url:
        env = server_environment(database_url)
        # `make run`'s defaults: the offline model at its own pace, research steps visible.
        for name in ("OFFLINE_MODEL_DELAY", "RESEARCH_OFFLINE_STEP_DELAY", "LOG_LEVEL"):
            env.pop(name, None)
        env["DEBUG"] = "true"
        dev = DevServer("readme", env, directory / "server.log")
        try:
            yield dev.start(), env
        finally:
            if dev.running:
                dev.kill()
            print(f"\n===== runserver log =====\n{dev.log()}")


def as_run_here(code: str, port: int) -> str:
    venv_bin = str(Path(sys.executable).parent) + "/"
    code = code.replace(".venv/bin/", venv_bin)
    for host in ("localhost:8000", "127.0.0.1:8000"):
        code = code.replace(host, f"127.0.0.1:{port}")
    return code


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_readme_example(example: Example, server: tuple[DevServer, dict]):
    if example.not_run:
        pytest.skip(f"not run by design: {example.not_run}")
    dev, env = server
    code = as_run_here(example.code, dev.port)
    command = [PYTHON, "-c", code] if example.lang == "python" else ["bash", "-c", code]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    report = f"--- code\n{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, report
    if example.expected is not None:
        ok, missing = matches(example.expected, done.stdout)
        assert ok, f"README says it prints {missing!r}; it did not\n{report}"
