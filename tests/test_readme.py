"""The README's engine sections show code: it must run as printed (the Tensor core, higher-order derivatives,
in-place ops, versions and hooks)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(start: str, end: str) -> list[str]:
    text = README.read_text()
    section = text[text.index(start):text.index(end)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_engine_sections_code_runs_as_printed():
    blocks = _blocks("## The Tensor core", "## `nn`: layers, losses, optimizers, save/load")
    assert len(blocks) >= 6
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README engine block {i}", "exec"), namespace)  # one namespace: later blocks use x


def test_the_captured_steps_section_runs_as_printed(capsys):
    blocks = _blocks("\n## Captured training steps", "\n## Performance")
    assert len(blocks) == 1
    exec(compile(blocks[0], "README captured-steps block", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    section = README.read_text()
    section = section[section.index("\n## Captured training steps"):section.index("\n## Performance")]
    shown = re.findall(r"```text\n(.*?)```", section, re.S)[0].strip().splitlines()
    assert printed[0] == "loss 0.069; captured 1x, replayed 98x"
    assert printed[1:] == shown  # the program, line for line, as the README prints it
