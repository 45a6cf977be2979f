"""The docs cannot rot: every Python example in README.md and docs/*.md runs (tiny settings), every
`keras-resnet-cifar` command shown parses with the package's own parser, and every relative link
resolves.

A page's ```python blocks run in order in one namespace (a later block may use an earlier one's names),
in a fresh folder where `../shared/data/cifar10-png.tar.gz` is a small generated stand-in with the
official archive's layout. A block may be skipped only with `<!-- doc-test: skip (reason) -->` on the
line before it; `MAX_SKIPS` keeps such skips few.
"""
import argparse
import contextlib
import dataclasses
import io
import itertools
import pathlib
import re
import shlex
import tarfile

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200
MAX_SKIPS = 2
SHELLS = ("bash", "sh", "shell", "console")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
STAND_IN = "cifar10-png.tar.gz"  # the archive the examples name, in ../shared/data/

_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"<!--\s*doc-test:\s*skip\s*\((?P<reason>.+)\)\s*-->")
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_CONTROL = {"&&", "||", ";", "&", "|", ";;"}
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclasses.dataclass(frozen=True)
class Block:
    page: pathlib.Path
    line: int  # the line of the block's first code line, counted from 1
    language: str
    code: str
    skip: str  # the reason given in a doc-test skip marker, or ""

    def __str__(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page):
    """The fenced code blocks of `page`, with the skip reason of a marker on the line before each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        assert end < len(lines), f"{page.relative_to(ROOT)}:{index + 1}: a code fence that is never closed"
        before = next((lines[k] for k in range(index - 1, -1, -1) if lines[k].strip()), "")
        marker = _SKIP.search(before)
        blocks.append(Block(page, index + 2, opening.group(1), "\n".join(lines[index + 1:end]),
                            marker.group("reason") if marker else ""))
        index = end + 1
    return blocks


def shell_commands(code):
    """[(line text, argv after `keras-resnet-cifar`)] of the commands in a shell block.

    Lines ending in a backslash are joined; `NAME=value` lines define variables that later lines use
    (`$D`, `$S`); a command is split from its neighbours at `&&`, `;`, `&`, `|` and may start with
    environment assignments (`KERAS_BACKEND=jax keras-resnet-cifar ...`).
    """
    variables, commands = {}, []
    for line in code.replace("\\\n", " ").splitlines():
        text = _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), line)
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command = []
        for token in [*lexer, ";"]:
            if token not in _CONTROL and not set(token) <= set(";&|<>"):
                command.append(token)
                continue
            words = list(itertools.dropwhile(_ASSIGNMENT.match, command))
            if not words and command:
                variables.update(w.split("=", 1) for w in command)
            elif "keras-resnet-cifar" in words:
                assert words[0] == "keras-resnet-cifar", f"{line!r}: the command must start the line's command"
                commands.append((line.strip(), words[1:]))
            command = []
    return commands


def _strict(parser):
    """`parser` and its subcommands' parsers refusing abbreviated flags (a doc must spell a flag out)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action.choices, dict):
            for sub in action.choices.values():
                _strict(sub)
    return parser


def _write_stand_in(path, train=50, test=10):
    """A small image-folder archive in the official archive's layout: train/<class>/NNNN.png, test/..."""
    rng = np.random.default_rng(0)
    from PIL import Image

    with tarfile.open(path, "w:gz") as archive:
        for split, count in (("train", train), ("test", test)):
            for label, name in enumerate(CIFAR10_CLASSES):
                for index in range(1, count + 1):
                    pixels = (rng.integers(0, 60, (32, 32, 3)) + 19 * label).astype(np.uint8)
                    buffer = io.BytesIO()
                    Image.fromarray(pixels).save(buffer, "PNG")
                    member = tarfile.TarInfo(f"{split}/{name}/{index:04d}.png")
                    member.size = len(buffer.getvalue())
                    archive.addfile(member, io.BytesIO(buffer.getvalue()))


ALL_BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
PYTHON_PAGES = [page for page in PAGES if any(b.language == "python" and not b.skip for b in fenced_blocks(page))]


# Keras warns that fit's default shuffle=True does nothing on a tf.data.Dataset (data.md's model.fit example)
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda page: page.name)
def test_the_python_examples_run(page, tmp_path, monkeypatch, capsys):
    blocks = [b for b in fenced_blocks(page) if b.language == "python" and not b.skip]
    work, data = tmp_path / "work", tmp_path / "shared" / "data"
    work.mkdir()
    data.mkdir(parents=True)
    if any(STAND_IN in block.code for block in blocks):
        _write_stand_in(data / STAND_IN)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the archive cache, not the user's
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__doc_example__"}
    for block in blocks:
        # blank lines in front, so a traceback names the line of the Markdown file
        exec(compile("\n" * (block.line - 1) + block.code, str(block.page), "exec"), namespace)


def test_every_command_line_parses():
    from keras_resnet_cifar.cli import build_parser

    parser = _strict(build_parser())
    checked, failures = 0, []
    for block in ALL_BLOCKS:
        if block.language not in SHELLS:
            continue
        for line, argv in shell_commands(block.code):
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                try:
                    parser.parse_args(argv)
                except SystemExit:
                    failures.append(f"{block}: {line}\n  {stderr.getvalue().strip().splitlines()[-1]}")
            checked += 1
    assert not failures, "\n".join(failures)
    assert checked >= 60  # the pages show this many; fewer means the extraction lost some


def test_the_command_checker_catches_a_wrong_flag():
    from keras_resnet_cifar.cli import build_parser

    parser = _strict(build_parser())
    [(_, argv)] = shell_commands("D=../data.tar.gz\nKERAS_BACKEND=jax keras-resnet-cifar train --source $D \\\n"
                                 "  --epoch 3 &")
    assert argv == ["train", "--source", "../data.tar.gz", "--epoch", "3"]
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        parser.parse_args(argv)  # --epoch abbreviates --epochs: refused
    assert [a for _, a in shell_commands("pip install -e . && keras-resnet-cifar summary; ls | wc")] == [["summary"]]


def test_no_command_hides_outside_a_shell_block():
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        inside = False
        for number, line in enumerate(lines, 1):
            if _FENCE.match(line) or (inside and line.strip() == "```"):
                inside = not inside
                continue
            if not inside and line.startswith("    ") and line.strip().startswith("keras-resnet-cifar "):
                pytest.fail(f"{page.relative_to(ROOT)}:{number}: an indented command is not checked; fence it as "
                            "```bash")
        for block in fenced_blocks(page):
            if block.language not in SHELLS:
                assert "keras-resnet-cifar " not in block.code or block.language == "python", (
                    f"{block}: a command in a ```{block.language} block is not checked; use ```bash")


def test_skips_are_few_and_give_a_reason():
    skipped = [block for block in ALL_BLOCKS if block.skip]
    assert len(skipped) <= MAX_SKIPS, [str(b) for b in skipped]
    assert all(len(block.skip) > 10 for block in skipped)
    assert fenced_blocks(README) and not [b for b in fenced_blocks(README) if b.skip]


def _anchors(page):
    """GitHub's anchors of `page`'s headings."""
    headings = [line.lstrip("#").strip() for line in page.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_resolves():
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in _LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.relative_to(ROOT)}: link {target} points nowhere"
            if anchor:
                assert anchor in _anchors(resolved), f"{page.relative_to(ROOT)}: link {target}: no such heading"


def test_the_readme_is_a_front_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in text, f"README.md does not link {page.name}"
    # the two set-up commands: a fresh virtual environment, then the main job and the tests
    setup = [b.code for b in fenced_blocks(README) if b.language in SHELLS and b.code.startswith("python3 -m venv")]
    assert len(setup) == 2
    assert "keras-resnet-cifar train --recipe fast" in setup[0] and "--source ../shared/data/cifar10-png.tar.gz" in setup[0]
    assert setup[1].endswith("python -m pytest -q")
    # official data only: a JPEG-copy figure belongs in docs/, labelled
    assert "cifar10-jpeg" not in text


def test_jpeg_figures_are_labelled():
    """A paragraph (or table row) that gives an accuracy and names the JPEG copy says it is not comparable
    with published figures."""
    for page in PAGES:
        for paragraph in page.read_text(encoding="utf-8").split("\n\n"):
            rows = paragraph.splitlines() if paragraph.lstrip().startswith("|") else [paragraph]
            for row in rows:
                if "JPEG" in row and re.search(r"\d\d\.\d+%", row):
                    assert "not comparable with published figures" in " ".join(row.split()), (
                        f"{page.relative_to(ROOT)}: {row[:80]!r}")
